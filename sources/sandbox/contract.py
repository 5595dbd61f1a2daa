"""What an integration gives the contract suite that every registered integration passes.

The suite (``tests/contract/``) checks, against each integration's sandbox over real HTTP,
what every integration promises: paging, exact incremental runs, deletions, isolated
connections, failures that change nothing, no secret on disk. It knows nothing about any
one API: each integration's sandbox package has a ``kit`` module whose ``KIT`` builds a
``ContractKit``, the few things only that integration knows — how to fill an account, the
connection's credentials and config for it, how to change, add, delete and erase records,
which credentials the API refuses — and the ``Capabilities`` its API has, which say what
the suite may expect of an incremental run.

Singer's standard tap tests and Airbyte's connector acceptance tests do the same for their
connectors; here the kit drives a sandbox instead of a recorded account.
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from sources.sandbox.server import SandboxServer

if TYPE_CHECKING:
    from sources.spec import IntegrationSpec

RecordKey = tuple[str, str]
"""A record as the warehouse keys it within a connection: its model and its id."""

S = TypeVar("S", bound=SandboxServer[Any])


@dataclass(frozen=True)
class Capabilities:
    """What the API lets an incremental run see; what it cannot see waits for a full one.

    ``tombstones``: a deleted record is reported as such (HubSpot's archived listing, Drive's
    changes feed); without, deletions are found only by a full listing. ``incremental_updates``:
    a change to a record already synced is read by the next incremental run (Gong lists calls
    by start time, so an edit waits for the full refresh). ``silent_erasure``: a record erased
    for good leaves no trace an incremental run could read (Drive's feed reports even that).
    """

    tombstones: bool = True
    incremental_updates: bool = True
    silent_erasure: bool = True


@dataclass(frozen=True)
class KitAccount:
    """One customer in the sandbox: what the sandbox knows it by (``key``: a token, an
    access key, an email) and what a connection to it holds. ``secrets`` are forms of the
    credentials beyond their values that must never be stored either (an encoded header)."""

    name: str
    key: str
    credentials: dict[str, Any]
    config: dict[str, Any]
    secrets: tuple[str, ...] = ()


class ContractKit(Protocol):
    """One integration's side of the contract suite, around one started sandbox.

    ``models`` are the models whose records the kit adds and changes; ``deletable`` and
    ``rejectable`` those it can delete (and erase) and make the model refuse. Every mutation
    answers the records it changed as the warehouse will see them, which may span models
    (a Gong call comes with its transcript; a Drive folder takes what it holds along).
    ``api_path`` is a path prefix of every API request the integration makes, where faults
    are injected.
    """

    integration: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    models: ClassVar[tuple[str, ...]]
    deletable: ClassVar[tuple[str, ...]]
    rejectable: ClassVar[tuple[str, ...]]
    api_path: ClassVar[str]
    sandbox: SandboxServer[Any]

    def account(self, name: str, records: int) -> KitAccount:
        """A new account holding about ``records`` records of each of ``models``."""
        ...

    def set_page_size(self, size: int) -> None:
        """Make the sandbox answer at most ``size`` records a page from now on."""
        ...

    def ids(self, account: KitAccount, model: str) -> list[str]:
        """The ids the API has for ``model`` (any of the integration's models), oldest first."""
        ...

    def add(self, account: KitAccount, model: str) -> list[RecordKey]:
        """Create one record."""
        ...

    def change(self, account: KitAccount, model: str, record_id: str) -> list[RecordKey]:
        """Change one record's content."""
        ...

    def delete(self, account: KitAccount, model: str, record_id: str) -> list[RecordKey]:
        """Delete a record the way users do (tombstoned where the API reports deletions)."""
        ...

    def erase(self, account: KitAccount, model: str, record_id: str) -> list[RecordKey]:
        """Delete a record for good, the hardest way the API has."""
        ...

    def reject(self, account: KitAccount, model: str, record_id: str) -> list[RecordKey]:
        """Make the API send the record in a shape the model refuses."""
        ...

    def invalid_credentials(self, account: KitAccount) -> dict[str, Any]:
        """A whole set of credentials for ``account`` that the API refuses."""
        ...

    def stop(self) -> None: ...


KitFactory = Callable[[], ContractKit]


class SandboxKit(Generic[S]):
    """What every kit shares: its started sandbox, a stable seed per account, a serial
    number for the values it writes, and the sandbox's ``set_page_size`` operation."""

    rejectable: ClassVar[tuple[str, ...]] = ()

    def __init__(self, sandbox: S) -> None:
        self.sandbox: S = sandbox.start()
        self.serial = count(1)

    def set_page_size(self, size: int) -> None:
        operation = self.sandbox.operations().get("set_page_size")
        if operation is None:
            raise NotImplementedError(f"the {self.sandbox.name} sandbox has no set_page_size")
        operation.call(self.sandbox, {"size": size})

    @staticmethod
    def seed(name: str) -> int:
        """The same data for the same account name on every run."""
        return zlib.crc32(name.encode())

    def stop(self) -> None:
        self.sandbox.stop()


class MissingKit(LookupError):
    """A registered integration without a contract kit."""


def kit_module(spec: IntegrationSpec[Any, Any]) -> str:
    """Where an integration's kit lives: ``sandbox.kit`` in the package of its spec."""
    package = importlib.import_module(spec.extract.__module__).__package__ or ""
    return f"{package}.sandbox.kit"


def load_kit(spec: IntegrationSpec[Any, Any]) -> KitFactory:
    """The integration's ``KIT``; ``MissingKit`` saying what to write when there is none."""
    name = kit_module(spec)
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name is None or not name.startswith(error.name):
            raise
        module = None
    factory = getattr(module, "KIT", None)
    if not callable(factory):
        path = name.replace(".", "/") + ".py"
        raise MissingKit(
            f"integration {spec.name!r} is registered but has no contract kit: write {path} "
            "with KIT, a ContractKit (sources.sandbox.contract) over its sandbox"
        )
    return factory  # type: ignore[no-any-return]
