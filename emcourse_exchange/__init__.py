"""An nbgrader exchange that knows who is speaking: a JupyterHub service and its clients.

nbgrader's filesystem exchange trusts Unix permissions only: on a shared machine any student
can submit in a classmate's name, take over a world-writable exchange or read a classmate's
released feedback. Here students fetch and submit through a JupyterHub service
(:mod:`.service`) that authenticates every request by the caller's hub token and files each
submission under the authenticated user's name, with the server's timestamp. Its storage is a
folder only the service's Unix user can read.

Modules, one job each:

* :mod:`.payload` - the wire format (files as JSON) and its bounds (sizes, counts, names).
* :mod:`.store` - the service's storage on disk (releases, submissions, feedback).
* :mod:`.service` - the tornado app: authentication, authorisation, the REST API.
* :mod:`.client` - the HTTP client and the configuration shared by the nbgrader classes.
* :mod:`.release`, :mod:`.fetch`, :mod:`.submit`, :mod:`.listing`, :mod:`.collect` - the
  nbgrader Exchange classes, registered with ``c.ExchangeFactory.*``.
* :mod:`.hub` - the JupyterHub configuration (service, role, server token scopes).

See docs/teaching.md, "The exchange through the hub".
"""
