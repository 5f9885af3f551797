"""The admin UI (Flask): product managers edit plans, legal publishes term changes (AGB 8)."""

from admin_ui import access as _access  # noqa: F401  (API tokens join the blueprint)
from admin_ui import credit_notes  # noqa: F401  (its routes join the admin blueprint)
from admin_ui import draft_forms as _draft_forms  # noqa: F401  (its route joins the blueprint)
from admin_ui import finance as _finance  # noqa: F401  (the money pages join the blueprint)
from admin_ui import impact as _impact  # noqa: F401  (the draft's impact page joins it)
from admin_ui import jobs as _jobs  # noqa: F401  (the Jobs page joins the blueprint)
from admin_ui import lists as _lists  # noqa: F401  (the list pages join the blueprint)
from admin_ui import webhooks as _webhooks  # noqa: F401  (its routes join the blueprint)
from admin_ui.views import init_admin

__all__ = ["init_admin"]
