"""The web layer: blueprints, schemas, auth and the error shape. The only package that knows Flask."""
