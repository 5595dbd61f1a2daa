"""The warehouse encrypted at rest: DuckDB's encrypted database files (``SYNCS_ENCRYPT_WAREHOUSE``).

With the option on, the warehouse (and the users' copy, a copy of its bytes) is written in
DuckDB's encrypted format, attached with ``ATTACH … (ENCRYPTION_KEY …)``. The key is derived
with HKDF from the key that encrypts the credentials (``SYNCS_ENCRYPTION_KEY`` or the key
file), so there is one secret to keep; losing it loses the warehouse too.

DuckDB reads encrypted files with its built-in crypto, but writes them only with the httpfs
extension loaded (its OpenSSL); reads want it too: counting 1M rows of an encrypted file
took 21.6 s with the built-in crypto and 0.16 s with httpfs loaded. Loading it costs about
45 ms per connection (0.10 s for a process's first). Extensions cannot be downloaded at
run time here, so it comes from the PyPI package ``duckdb-ext-httpfs`` (a dependency),
loaded from its path.

A plaintext warehouse found with the option on is converted on its next write, under the
write lock: copied whole into a new encrypted file (``COPY FROM DATABASE``, which keeps the
change-cursor sequence) that then replaces it; until then readers read it as it is. An
encrypted warehouse found with the option off is refused with a message, never rewritten
in plaintext behind the user's back.
"""

from __future__ import annotations

import os
from functools import cache
from importlib import util
from pathlib import Path

import duckdb

from pipelines import settings
from pipelines.home import Home
from pipelines.store.secrets import derived_key, load_key
from sources.errors import ConfigError

ALIAS = "warehouse"
"""The name an attached warehouse has in its connection (as a plain file named warehouse)."""

_HEADER_MAGIC = b"DUCK"
_ENCRYPTED_FLAG = 1


def warehouse_key(home: Home) -> str | None:
    """The warehouse's DuckDB encryption key, or None when the option is off."""
    return file_key(home) if settings.encrypt_warehouse() else None


def file_key(home: Home) -> str:
    """The DuckDB encryption key of the home's warehouse files, whether the option is on."""
    return derived_key(load_key(home.key_file), "warehouse").hex()


def is_encrypted(path: Path) -> bool:
    """Whether a DuckDB file is in the encrypted format (its main header's first flag)."""
    with path.open("rb") as handle:
        header = handle.read(28)
    if len(header) < 28 or header[8:12] != _HEADER_MAGIC:
        return False
    return bool(int.from_bytes(header[20:28], "little") & _ENCRYPTED_FLAG)


@cache
def httpfs_path() -> str:
    """The httpfs extension that ships in the ``duckdb-ext-httpfs`` package."""
    spec = util.find_spec("duckdb_ext")
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    for root in roots:
        found = sorted(
            Path(root).glob(f"extensions/v{duckdb.__version__}/*/httpfs.duckdb_extension")
        )
        if found:
            return str(found[0])
    raise ConfigError(
        f"SYNCS_ENCRYPT_WAREHOUSE needs DuckDB's httpfs extension for DuckDB {duckdb.__version__}: "
        f"install it with `pip install duckdb-ext-httpfs=={duckdb.__version__}.*`"
    )


def attach(con: duckdb.DuckDBPyConnection, path: Path, key: str, *, read_only: bool) -> None:
    """Attach an encrypted warehouse file to ``con`` and make it the current database."""
    con.execute(f"LOAD {_literal(httpfs_path())}")
    options = f"ENCRYPTION_KEY {_literal(key)}" + (", READ_ONLY" if read_only else "")
    try:
        con.execute(f"ATTACH {_literal(str(path))} AS {ALIAS} ({options})")
    except duckdb.Error as error:
        if "Wrong encryption key" in str(error):
            raise ConfigError(
                f"{path.name} cannot be decrypted with this key: the encryption key changed; "
                "restore SYNCS_ENCRYPTION_KEY (or the key file)"
            ) from None
        raise
    con.execute(f"USE {ALIAS}")


def refuse_encrypted(path: Path) -> None:
    raise ConfigError(
        f"{path.name} is encrypted and SYNCS_ENCRYPT_WAREHOUSE is off; set "
        "SYNCS_ENCRYPT_WAREHOUSE=true (with the same encryption key) to open it"
    )


def encrypt_file(path: Path, key: str, memory_limit: str) -> None:
    """Replace a plaintext warehouse by an encrypted copy; the caller holds the write lock."""
    wal = Path(f"{path}.wal")
    if wal.exists():
        duckdb.connect(str(path)).close()
    staging = path.with_name(path.name + ".encrypting")
    for leftover in (staging, Path(f"{staging}.wal")):
        leftover.unlink(missing_ok=True)
    con = duckdb.connect(":memory:", config={"memory_limit": memory_limit})
    try:
        con.execute(f"ATTACH {_literal(str(path))} AS plain (READ_ONLY)")
        attach(con, staging, key, read_only=False)
        con.execute(f"COPY FROM DATABASE plain TO {ALIAS}")
        con.execute("DETACH plain")
    finally:
        con.close()
    os.replace(staging, path)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
