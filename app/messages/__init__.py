"""Messages: the template library (built-in files and custom copies), the sandboxed Jinja2
environment, the composer that renders and queues, the linter (lint/) and SMS segment counting.
Nothing is re-exported: import from the modules."""
