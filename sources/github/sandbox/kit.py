"""The GitHub sandbox as the contract suite drives it (``sources.sandbox.contract``).

An account is one repository of issues and pull requests. GitHub reports no deletions, and
pull requests cannot be deleted at all: only issues are deletable, for good.
"""

from __future__ import annotations

from typing import Any

from sources.github import ISSUES, PULLS
from sources.github.sandbox.server import GitHubSandbox
from sources.sandbox.contract import Capabilities, KitAccount, RecordKey, SandboxKit


class GitHubKit(SandboxKit[GitHubSandbox]):
    integration = "github"
    capabilities = Capabilities(tombstones=False)
    models = (ISSUES, PULLS)
    deletable = (ISSUES,)
    rejectable = (ISSUES, PULLS)
    api_path = "/"

    def __init__(self) -> None:
        super().__init__(GitHubSandbox(rate_limit=None))

    def account(self, name: str, records: int) -> KitAccount:
        token = f"ghp_{name}{self.seed(name):08x}"
        repository = f"{name}/app"
        self.sandbox.add_account(token, login=f"{name}-bot", seed=self.seed(name))
        self.sandbox.add_repo(token, repository, issues=records, pulls=records)
        config = {"base_url": self.sandbox.base_url, "repositories": repository}
        return KitAccount(name, token, {"access_token": token}, config)

    def ids(self, account: KitAccount, model: str) -> list[str]:
        return list(self._numbers(account, model))

    def add(self, account: KitAccount, model: str) -> list[RecordKey]:
        repository, token = self._repository(account), account.key
        title = f"Added {next(self.serial)}"
        if model == ISSUES:
            created = self.sandbox.create_issue(token, repository, title=title)
        else:
            created = self.sandbox.create_pull(token, repository, title=title)
        return [(model, str(created["id"]))]

    def change(self, account: KitAccount, model: str, record_id: str) -> list[RecordKey]:
        number = self._numbers(account, model)[record_id]
        if model == ISSUES:
            self.sandbox.comment(account.key, self._repository(account), number)
        else:
            self.sandbox.update_pull(account.key, self._repository(account), number, push=True)
        return [(model, record_id)]

    def delete(self, account: KitAccount, model: str, record_id: str) -> list[RecordKey]:
        return self.erase(account, model, record_id)

    def erase(self, account: KitAccount, model: str, record_id: str) -> list[RecordKey]:
        number = self._numbers(account, model)[record_id]
        self.sandbox.delete_issue(account.key, self._repository(account), number)
        return [(model, record_id)]

    def reject(self, account: KitAccount, model: str, record_id: str) -> list[RecordKey]:
        number = self._numbers(account, model)[record_id]
        self.sandbox.update_issue(account.key, self._repository(account), number, title=None)
        return [(model, record_id)]

    def invalid_credentials(self, account: KitAccount) -> dict[str, Any]:
        return {"access_token": f"ghp_revoked{account.name}"}

    @staticmethod
    def _repository(account: KitAccount) -> str:
        return str(account.config["repositories"])

    def _numbers(self, account: KitAccount, model: str) -> dict[str, int]:
        """Record id -> number: an issue's id, or a pull request's own id."""
        token, repository = account.key, self._repository(account)
        if model == ISSUES:
            numbers = self.sandbox.numbers(token, repository, "issues")
            return {str(self.sandbox.issue(token, repository, n)["id"]): n for n in numbers}
        numbers = self.sandbox.numbers(token, repository, "pulls")
        return {str(self.sandbox.pull(token, repository, n)["id"]): n for n in numbers}


KIT = GitHubKit
