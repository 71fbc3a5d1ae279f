"""ASGI entry point for uvicorn: `uvicorn api.asgi:app`.

Each worker imports this module once. What the import and the app's construction leave behind
(the modules, routes, templates, hundreds of thousands of objects that live as long as the
process) is moved out of the garbage collector's reach (`gc.freeze`): a full collection
otherwise walks all of them, and on the read-path bench each took about 200 ms, stalling every
request of that worker (bench/README.md, "The stalls: each worker's full garbage
collection")."""

import gc

from api.app import create_app

app = create_app()

gc.collect()  # what construction left as garbage is freed now, not frozen with the rest
gc.freeze()
