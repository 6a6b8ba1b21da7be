"""File storage that never leaves a half-written file (e.g. when the disk is full).

FileSystemStorage writes the destination file in place: a write that fails half-way (ENOSPC)
leaves a truncated document behind. This one writes to a temporary file in the same folder,
flushes it to disk, then renames it into place (atomic on POSIX); on any error the temporary
file is removed and the error raised (ops.middleware.StorageFullMiddleware answers it).

    STORAGE_BACKEND=ops.storage.SafeFileSystemStorage
"""

from __future__ import annotations

import os
import tempfile

from django.core.files.storage import FileSystemStorage
from django.utils._os import safe_join


class SafeFileSystemStorage(FileSystemStorage):
    def _save(self, name: str, content) -> str:
        full_path = self.path(name)
        directory = os.path.dirname(full_path)
        os.makedirs(directory, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".upload-", dir=directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                if hasattr(content, "seek"):
                    content.seek(0)
                for chunk in content.chunks():
                    handle.write(chunk if isinstance(chunk, bytes) else chunk.encode())
                handle.flush()
                os.fsync(handle.fileno())
            if self.file_permissions_mode is not None:
                os.chmod(temporary, self.file_permissions_mode)
            while True:
                try:
                    # Never overwrite: a new name if this one was taken meanwhile.
                    os.link(temporary, full_path)
                    break
                except FileExistsError:
                    name = self.get_available_name(name)
                    full_path = safe_join(self.location, name)
        finally:
            try:
                os.unlink(temporary)
            except FileNotFoundError:
                pass
        return str(name).replace("\\", "/")
