"""Phoenix dashboards (Panel + HoloViews) over the REST API: one Viewer class per page."""
