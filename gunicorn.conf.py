"""gunicorn settings read from the working directory (`gunicorn evalhub.wsgi`).

Keep-alive outlasts the pages' polling interval (2 s): with gunicorn's
default of 2 s a browser's connection was closed just as its next poll left,
and that poll paid for a new connection queued behind the others. Measured in
benchmark scenario 4 (50 clients polling through wrk): p95 of the three polls
went from 21–315 ms over several runs to 32–51 ms.
"""

import os

keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "10"))
