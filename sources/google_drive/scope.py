"""Which files of a Drive account a connection syncs, and how that set moves.

A connection syncs the user's own files (My Drive and shared with me), whole shared drives,
or everything under some folders. The changes feed covers the whole account, so each
change is placed in or out of the scope by the file's current state: its shared drive, or
its chain of parent folders up to a configured folder. Parent chains are resolved against
Drive's current state (``files.get``, cached for the run) rather than the folder map the
last run stored, because any folder of that map may have moved since, and its own change
may come later in the feed than the changes of the files inside it.

The stored map (folder -> parent, every folder under the configured ones) says which
folders were in scope before the run. A folder that enters the scope brings its whole
subtree, which the feed does not list (only the folder itself changed), so the subtree is
listed; a folder that leaves takes its subtree with it, which is listed to be tombstoned.
"""

from __future__ import annotations

from typing import Any

from sources.google_drive.api import DriveApi, is_folder
from sources.google_drive.config import GoogleDriveConfig

ENTERED = "entered"
LEFT = "left"


class Scope:
    def __init__(
        self, api: DriveApi, config: GoogleDriveConfig, tree: dict[str, str | None]
    ) -> None:
        self.api = api
        self.roots = set(config.folders)
        self.drives = set(config.shared_drives)
        self.whole_account = config.whole_account
        self.tree: dict[str, str | None] = dict(tree)
        self.before = set(tree) | self.roots
        self.listed: set[str] = set()
        self._inside: dict[str, bool] = dict.fromkeys(self.roots, True)

    @property
    def tracks_folders(self) -> bool:
        return bool(self.roots)

    def contains(self, file: dict[str, Any]) -> bool:
        """Whether the file, as it is now, belongs to the connection (a configured folder
        itself does not: a full listing holds what is under it)."""
        if self.whole_account:
            return file.get("driveId") is None
        if file.get("driveId") in self.drives:
            return True
        return any(self._folder_inside(p) for p in file.get("parents") or [])

    def folder_seen(self, folder: dict[str, Any], inside: bool) -> str | None:
        """Record a changed folder's place; ENTERED or LEFT when it crossed the boundary."""
        folder_id = folder["id"]
        if inside or folder_id in self.roots:
            self._inside[folder_id] = True
            if folder_id not in self.roots:
                self.tree[folder_id] = _first_parent(folder)
            if folder_id in self.before or folder_id in self.listed:
                return None
            self.listed.add(folder_id)
            return ENTERED
        self._inside[folder_id] = False
        if self.was_in_scope(folder_id):
            self.forget(folder_id)
            return LEFT
        return None

    def subtree_listed(self, folders: list[dict[str, Any]]) -> None:
        """Folders found while listing an entering folder's subtree are in scope too."""
        for folder in folders:
            if is_folder(folder):
                self.listed.add(folder["id"])
                self._inside[folder["id"]] = True
                self.tree[folder["id"]] = _first_parent(folder)

    def was_in_scope(self, folder_id: str) -> bool:
        return folder_id in self.before or folder_id in self.tree

    def forget(self, folder_id: str) -> None:
        """A folder (and every folder under it) left the scope or is gone."""
        if folder_id not in self.tree and folder_id not in self.roots:
            if self._inside.get(folder_id):
                self._inside[folder_id] = False
            return
        children: dict[str | None, list[str]] = {}
        for child, parent in self.tree.items():
            children.setdefault(parent, []).append(child)
        stack = [folder_id]
        while stack:
            current = stack.pop()
            self.tree.pop(current, None)
            if current not in self.roots:
                self._inside[current] = False
            stack.extend(children.get(current, ()))

    def _folder_inside(self, folder_id: str) -> bool:
        chain: list[tuple[str, str | None]] = []
        current: str | None = folder_id
        verdict = False
        while current is not None:
            known = self._inside.get(current)
            if known is not None:
                verdict = known
                break
            if any(current == seen for seen, _ in chain):
                break
            meta = self.api.get_file(current)
            if meta is None or meta.get("trashed") or not is_folder(meta):
                chain.append((current, None))
                break
            parent = _first_parent(meta)
            chain.append((current, parent))
            current = parent
        for folder_id_, parent in chain:
            self._inside[folder_id_] = verdict
            if verdict:
                self.tree[folder_id_] = parent
        return verdict


def _first_parent(file: dict[str, Any]) -> str | None:
    parents = file.get("parents") or []
    return str(parents[0]) if parents else None
