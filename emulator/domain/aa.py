"""典名词元's tasks and uploads: a generation kept under a task id, its state read off the clock.

Every accepted generation becomes a task (``records.Task``), whether the call waits for it or
not. A task's state is a pure function of the clock and is never written after it is stored:
``pending`` for the first ``PENDING_SHARE`` of its service time (standing for the provider's
queue), then ``processing``, then ``succeeded`` or ``failed`` (the generation's drawn or steered
outcome) once its time is up. A succeeded task's images are served at signed, expiring links,
rendered on first download and cached; another key's task is not found. An upload is its
key's: another key's file id is an unknown one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from emulator.domain.clock import Clock
from emulator.domain.errors import NotFound, RequestNotFound, ValidationFailed, Violation
from emulator.domain.files import FileService
from emulator.domain.gateway import owner_of
from emulator.domain.ids import TASK_PREFIX, Ids
from emulator.domain.images import ImagesService
from emulator.domain.inputs import kept_params
from emulator.domain.records import Generation, Task, TaskStatus
from emulator.store.base import Store

PROVIDER = "aa"


@dataclass(frozen=True, slots=True)
class TaskSnapshot:
    """A task as one read sees it: its status and, once succeeded, its links."""

    task: Task
    status: TaskStatus
    links: tuple[str, ...] = ()  # path and query of each image (the HTTP layer adds the base)
    expires: int | None = None  # unix seconds at which the links stop working


def is_task_id(value: str) -> bool:
    """Whether a result file's id names a task (the queue's jobs have other ids)."""
    return value.startswith(TASK_PREFIX)


class TaskService:
    """Tasks of 典名词元: stored at acceptance, read as a function of the clock, files, uploads."""

    def __init__(
        self,
        clock: Clock,
        store: Store,
        images: ImagesService,
        files: FileService,
        ids: Ids,
    ) -> None:
        self.clock = clock
        self.store = store
        self.images = images
        self.files = files
        self.ids = ids

    async def create(self, key: str, generation: Generation) -> Task:
        """Keep an accepted generation as a task of ``key``'s.

        The task keeps what rendering needs: the base image and the mask as the generation
        holds them (fitted to the output size when its inputs were decoded), the parameters
        with each inline image as its digest and size (a failing one renders nothing and
        keeps neither image).
        """
        task_id = self.ids.task(generation.started_at)
        task = Task(task_id=task_id, owner=owner_of(key), generation=await self._kept(generation))
        await self.store.put_task(task)
        return task

    @staticmethod
    async def _kept(g: Generation) -> Generation:
        failing = g.outcome is not None
        params = await kept_params(dict(g.params))
        return replace(
            g,
            params=params,
            base=None if failing else g.base,
            mask=None if failing else g.mask,
        )

    async def find(self, key: str, task_id: str) -> Task:
        """The caller's task; an unknown one or another key's is ``NotFound``."""
        task = await self.store.get_task(task_id)
        if task is None or task.owner != owner_of(key):
            raise NotFound("task", task_id)
        return task

    @staticmethod
    def accepted(task: Task) -> TaskSnapshot:
        """The task as the call that submitted it reports it: pending, whatever its duration."""
        return TaskSnapshot(task, TaskStatus.PENDING)

    def snapshot(self, task: Task, now: float) -> TaskSnapshot:
        """The task at clock time ``now``; reading changes nothing."""
        status = task.status_at(now)
        if status is not TaskStatus.SUCCEEDED:
            return TaskSnapshot(task, status)
        expires = self.files.expires(task.generation.finishes_at)
        links = tuple(
            self.files.signed(task.file_name(index), expires) for index in range(task.generation.n)
        )
        return TaskSnapshot(task, status, links, expires)

    async def file(self, task_id: str, index: int, output_format: str) -> bytes:
        """Image ``index`` of a succeeded task (link checks are the caller's)."""
        return await self._file(await self.store.get_task(task_id), index, output_format)

    async def _file(self, task: Task | None, index: int, output_format: str) -> bytes:
        now = self.clock.now()
        if (
            task is None
            or task.status_at(now) is not TaskStatus.SUCCEEDED
            or not 0 <= index < task.generation.n
            or output_format != task.generation.output_format
        ):
            raise RequestNotFound()
        generation = task.generation
        return await self.files.cached(
            (task.task_id, index),
            lambda: self.images.render(generation, index),
            self.files.expires(generation.finishes_at),
            now,
        )

    async def own_file(
        self, task_id: str, index: int, output_format: str, owner: str
    ) -> bytes | None:
        """A result file sent back as an input image by ``owner``: its bytes, or None if there
        is none or it is another owner's (link checks are the caller's)."""
        task = await self.store.get_task(task_id)
        if task is None or task.owner != owner:
            return None
        try:
            return await self._file(task, index, output_format)
        except RequestNotFound:
            return None

    async def upload(self, key: str, data: bytes) -> str:
        """Keep an image ``key`` uploaded and return its file id (only ``key`` can use it);
        anything else is ``ValidationFailed`` (one over the input limits too: its bytes, its
        header's pixels)."""
        found = self.images.inputs.inspect(data, ("file",))
        if isinstance(found, Violation):
            raise ValidationFailed((found,))
        file_id = self.ids.file(self.clock.now())
        await self.store.put_upload(owner_of(key), file_id, data)
        return file_id
