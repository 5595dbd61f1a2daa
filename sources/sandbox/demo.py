"""What ``syncs demo`` and ``make dev`` need of a started sandbox: its customers (as the
connections to register), and a ``change`` that alters one customer's data between rounds.

A demo changes its sandbox through ``client``, the same admin operations ``syncs sandbox
INTEGRATION --url URL ...`` calls, so what the demo does can be done by hand to a sandbox
running in another process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from sources.sandbox.client import SandboxClient
from sources.sandbox.server import SandboxServer
from sources.spec import DemoAccount


@dataclass
class SandboxDemo:
    """A started sandbox and its demo customers; each integration's ``demo.py`` subclasses
    it with a ``change`` (with ``deep``, also in ways only a full refresh can notice)."""

    sandbox: SandboxServer
    accounts: list[DemoAccount] = field(default_factory=list)
    step: int = 0

    @property
    def base_url(self) -> str:
        return self.sandbox.base_url

    @cached_property
    def client(self) -> SandboxClient:
        return SandboxClient(self.base_url)

    def stop(self) -> None:
        if "client" in self.__dict__:
            self.client.close()
        self.sandbox.stop()

    def change(self, account: DemoAccount, *, deep: bool = False) -> list[str]:
        raise NotImplementedError
