"""The command families; importing this package registers them all in ``table.REGISTRY``
(the connection commands come with it from ``servers.respkit``).

One file per family, as in Redis's source (t_string.c, t_list.c, ...): each
holds its commands' argument parsing, the change to the keyspace and the
encoded reply side by side. Every module in this folder is a family and is
imported here, so adding a family is adding a file.
"""

import importlib
import pkgutil

FAMILIES = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
for _name in FAMILIES:
    importlib.import_module(f"{__name__}.{_name}")
