"""Phoenix's Panel dashboards over the REST API, one ``pn.viewable.Viewer`` class per page
(docs/dashboards.md); ``serving`` is what the ``phoenix`` command line serves or mounts."""
