"""The WSGI application (gunicorn ``webmail.wsgi:application``).

After Django is loaded, everything the process has created so far (modules, settings, URL
patterns, compiled templates are to come) is moved out of the garbage collector's view with
``gc.freeze()``: those objects live as long as the process, and without this every full
collection walks all of them again (about 110,000 objects, 50-90 ms each time, a few
milliseconds per request on average under load). Objects created later are collected as usual.
"""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webmail.settings")
application = get_wsgi_application()
gc.collect()
gc.freeze()
