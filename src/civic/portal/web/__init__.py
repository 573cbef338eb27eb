"""The portal web app (FastAPI + Jinja2, server-rendered, no front-end build): residents see the
accounts they proved are theirs; staff search their communities, open accounts, ask why a
customer is not shown, and see whether the sync runs. Reads ``civic.portal.store`` only and
never changes a synced record; "why isn't this customer in the portal?" is a callable handed
in at ``create_app`` (the ``civic serve portal`` command wires ``civic.sync.explain``)."""
