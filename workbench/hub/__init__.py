"""The Hugging Face Hub: search, files, fit before download, safe resumable downloads.

Every call goes through :class:`~workbench.hub.client.HubClient` (address, token, offline mode,
errors as one line). Nothing here runs unless the user searches or downloads.
"""

from workbench.hub.client import HubClient
from workbench.hub.download import PullEvent, PullPlan, plan_pull, pull, run_pull
from workbench.hub.files import HubModelFile, RepoFiles, list_files
from workbench.hub.search import RepoResult, search_models

__all__ = [
    "HubClient", "HubModelFile", "PullEvent", "PullPlan", "RepoFiles", "RepoResult",
    "list_files", "plan_pull", "pull", "run_pull", "search_models",
]
