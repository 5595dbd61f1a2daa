"""The GitHub sandbox as the demo uses it: two customers, and changes to make between runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sources.github.sandbox.server import GitHubSandbox
from sources.sandbox.demo import SandboxDemo
from sources.spec import DemoAccount

# customer, seed, {repository: share of ``records`` as issues}; each also has an archive
# repository the connection does not sync, where transferred issues go.
CUSTOMERS: tuple[tuple[str, int, dict[str, float]], ...] = (
    ("acme", 7, {"acme/api": 0.5, "acme/web": 0.25}),
    ("globex", 42, {"globex/platform": 1.0}),
)


@dataclass
class GitHubDemo(SandboxDemo):
    sandbox: GitHubSandbox

    def change(self, account: DemoAccount, *, deep: bool = False) -> list[str]:
        """Open, comment on, close and relabel issues, open and merge pull requests.

        With ``deep``, also delete an issue and transfer one to a repository the connection
        does not sync: GitHub has no deletion feed, so only a full refresh notices.
        """
        token = account.credentials["access_token"]
        box = self.client
        repos = str(account.config["repositories"]).split(",")
        main = repos[0]
        self.step += 1
        done: list[str] = []
        for i in range(2):
            box.create_issue(
                token,
                main,
                title=f"Wave {self.step}: report {i} from {account.connection_id}",
                labels=["bug"],
            )
        done.append("opened 2 issues")
        issues = box.numbers(token, main, "issues")
        for number in issues[:3]:
            box.comment(token, main, number)
        done.append("commented on 3 issues")
        opened = [n for n in issues if box.issue(token, main, n)["state"] == "open"]
        if opened:
            box.update_issue(token, main, opened[0], state="closed")
            done.append("closed 1 issue")
        box.update_issue(token, repos[-1], box.numbers(token, repos[-1])[0], labels=["question"])
        done.append("relabelled 1 issue")
        box.create_pull(token, main, title=f"Wave {self.step}: tidy up", head=f"wave-{self.step}")
        done.append("opened 1 pull request")
        open_pulls = [
            n
            for n in box.numbers(token, main, "pulls")
            if box.pull(token, main, n)["state"] == "open"
        ]
        if open_pulls:
            box.merge_pull(token, main, open_pulls[0])
            done.append("merged 1 pull request")
        if deep:
            issues = box.numbers(token, main, "issues")
            box.delete_issue(token, main, issues[5])
            archive = f"{main.split('/')[0]}/archive"
            box.transfer_issue(token, main, issues[6], archive)
            done.append(f"deleted 1 issue and moved 1 to {archive} (seen only by a full refresh)")
        return done


def start_demo_sandbox(port: int = 0, records: int = 200, **_: Any) -> GitHubDemo:
    sandbox = GitHubSandbox(port=port).start()
    demo = GitHubDemo(sandbox)
    box = demo.client
    for name, seed, repos in CUSTOMERS:
        token = f"demo-github-{name}"
        box.add_account(token, login=f"{name}-bot", seed=seed)
        for repo, share in repos.items():
            issues = max(int(records * share), 10)
            box.add_repo(token, repo, issues=issues, pulls=max(issues // 3, 3))
        box.add_repo(token, f"{name}/archive", issues=5)
        demo.accounts.append(
            DemoAccount(
                connection_id=f"{name}-github",
                credentials={"access_token": token},
                config={"base_url": sandbox.base_url, "repositories": ",".join(repos)},
            )
        )
    return demo
