"""The demo's built-in sections; importing this package registers them all.

To add a section, put a module here (or anywhere that is imported) with a function
decorated by :func:`xaikit.demo.register_section`, returning a
:class:`xaikit.report.Section`.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
