from supply.db.session import Database, make_engine

__all__ = ["Database", "make_engine"]
