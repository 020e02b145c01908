"""Locust scenarios that use imgemu as real applications use the providers.

Four kinds of user, each weighted by an option (0 leaves it out):

- ``QueueUser`` (SeaCloud/OdiRouter queue): submit a job, poll its status with exponential
  back-off until it is terminal, read the result and download the image;
- ``ImagesUser`` (OpenAI Images): one synchronous generation, the image inline;
- ``StreamUser`` (OpenAI Images, ``stream=true``): a generation streamed as SSE to its end;
- ``AAUser`` (典名词元): an asynchronous edit task (``"async": true``), polled, then its file.

Run headless against an emulator started with a small time scale, e.g.::

    imgemu serve --time-scale 0.01 &
    locust -f docker/locust/locustfile.py --headless -u 50 -r 10 -t 2m \\
        --host http://127.0.0.1:8000 --csv out/load --html out/load.html

Every option is also a ``LOCUST_*`` variable (``--queue-weight`` is ``LOCUST_QUEUE_WEIGHT``).
A request that answers an unexpected status, a job that ends failed or a poll that runs out of
``--poll-timeout`` counts as a failure in Locust's statistics.
"""

from __future__ import annotations

import json
import time
from typing import Any

from locust import between, constant_throughput, events, task
from locust.contrib.fasthttp import FastHttpUser

_TERMINAL_QUEUE = ("COMPLETED", "FAILED", "CANCELED", "CANCELLED")
# 典名词元 edits an input image; a URL the emulator did not serve becomes a placeholder image
# (nothing is fetched), so any URL works against the emulator.
_AA_IMAGE = "https://example.com/product.png"


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    group = parser.add_argument_group("imgemu")
    for name, default, helptext in (
        ("queue-weight", 4, "weight of queue users (submit, poll, result, image)"),
        ("images-weight", 2, "weight of synchronous OpenAI Images users"),
        ("stream-weight", 1, "weight of streamed OpenAI Images users"),
        ("aa-weight", 1, "weight of 典名词元 users (async task, poll, file)"),
    ):
        env = "LOCUST_" + name.upper().replace("-", "_")
        group.add_argument(f"--{name}", type=int, default=default, env_var=env, help=helptext)
    group.add_argument(
        "--user-rate",
        type=float,
        default=0.0,
        env_var="LOCUST_USER_RATE",
        help="scenarios per second per user (0: a pause of --think-seconds between scenarios)",
    )
    group.add_argument("--think-seconds", type=float, default=1.0, env_var="LOCUST_THINK_SECONDS")
    group.add_argument("--poll-initial", type=float, default=0.2, env_var="LOCUST_POLL_INITIAL")
    group.add_argument("--poll-max", type=float, default=2.0, env_var="LOCUST_POLL_MAX")
    group.add_argument("--poll-timeout", type=float, default=120.0, env_var="LOCUST_POLL_TIMEOUT")
    group.add_argument("--api-key", default="sk-imgemu-load", env_var="LOCUST_API_KEY")
    group.add_argument(
        "--accepted-file",
        default="",
        env_var="LOCUST_ACCEPTED_FILE",
        help="write the request id of every accepted queue job here at the end (one per line)",
    )
    group.add_argument("--queue-path", default="/model", env_var="LOCUST_QUEUE_PATH")
    group.add_argument("--queue-model", default="gpt_image_1_5", env_var="LOCUST_QUEUE_MODEL")
    group.add_argument("--images-model", default="gpt-image-1-mini", env_var="LOCUST_IMAGES_MODEL")
    group.add_argument("--aa-image-url", default=_AA_IMAGE, env_var="LOCUST_AA_IMAGE_URL")
    group.add_argument("--size", default="1024x1024", env_var="LOCUST_SIZE")
    group.add_argument("--quality", default="low", env_var="LOCUST_QUALITY")


@events.init.add_listener
def _configure(environment: Any, **_: Any) -> None:
    options = environment.parsed_options
    if options is None:  # run as a library: the classes' defaults stand
        return
    weights = {
        QueueUser: options.queue_weight,
        ImagesUser: options.images_weight,
        StreamUser: options.stream_weight,
        AAUser: options.aa_weight,
    }
    for user, weight in weights.items():
        user.weight = weight
        if options.user_rate > 0:
            user.wait_time = constant_throughput(options.user_rate)
        else:
            think = options.think_seconds
            user.wait_time = between(think / 2, think * 3 / 2)
    # Locust picks among the classes it was given; a class of weight 0 is dropped here.
    if environment.user_classes:
        environment.user_classes[:] = [u for u in environment.user_classes if u.weight > 0]


# Every queue job the emulator accepted in this process: checked afterwards that none is lost.
ACCEPTED: list[str] = []


@events.quitting.add_listener
def _write_accepted(environment: Any, **_: Any) -> None:
    options = environment.parsed_options
    if options is not None and options.accepted_file:
        with open(options.accepted_file, "w", encoding="utf-8") as out:
            out.writelines(f"{request_id}\n" for request_id in ACCEPTED)


class _ImgemuUser(FastHttpUser):
    """What every scenario shares: the key, the options, a bounded polling loop."""

    abstract = True
    wait_time = between(0.5, 1.5)

    def option(self, name: str, default: Any) -> Any:
        options = self.environment.parsed_options
        return getattr(options, name, default) if options is not None else default

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.option('api_key', 'sk-imgemu-load')}"}

    def params(self) -> dict[str, Any]:
        return {
            "prompt": f"A product photo of item {time.monotonic_ns() % 10_000}",
            "size": self.option("size", "1024x1024"),
            "quality": self.option("quality", "low"),
        }

    def poll(self, url: str, name: str, done: Any) -> dict[str, Any] | None:
        """GET ``url`` with exponential back-off until ``done(body)``; None after the timeout."""
        delay = self.option("poll_initial", 0.2)
        deadline = time.monotonic() + self.option("poll_timeout", 120.0)
        while time.monotonic() < deadline:
            with self.client.get(url, headers=self.headers, name=name, catch_response=True) as r:
                if r.status_code not in (200, 202):  # the queue answers 202 while pending
                    r.failure(f"status {r.status_code}: {r.text[:200]}")
                    return None
                body: dict[str, Any] = r.json()
                r.success()
            if done(body):
                return body
            time.sleep(delay)
            delay = min(delay * 2, self.option("poll_max", 2.0))
        self.environment.events.request.fire(
            request_type="POLL",
            name=f"{name} (timed out)",
            response_time=0,
            response_length=0,
            exception=TimeoutError(f"{url} not done in time"),
            context={},
        )
        return None

    def post(self, path: str, body: dict[str, Any], name: str, ok: Any) -> str | None:
        """POST ``body``; the answer's text if it is a 200 that ``ok(text)`` accepts, else
        None (and a failure in the statistics)."""
        with self.client.post(
            path, json=body, headers=self.headers, name=name, catch_response=True
        ) as r:
            text = r.text or ""
            if r.status_code != 200 or not ok(text):
                r.failure(f"status {r.status_code}: {text[:200]}")
                return None
            return text

    def download(self, url: str, name: str) -> None:
        with self.client.get(url, name=name, catch_response=True) as r:
            if r.status_code != 200 or not r.content:
                r.failure(f"status {r.status_code}, {len(r.content or b'')} bytes")


class QueueUser(_ImgemuUser):
    """A queue application: submit, poll with back-off, read the result, download the image."""

    weight = 4

    @task
    def generate(self) -> None:
        base = self.option("queue_path", "/model").rstrip("/")
        model = self.option("queue_model", "gpt_image_1_5")
        text = self.post(f"{base}/v1/queue/{model}", self.params(), "queue submit", bool)
        if text is None:
            return
        submitted = json.loads(text)
        ACCEPTED.append(submitted["request_id"])
        status = self.poll(
            submitted["status_url"], "queue status", lambda b: b["status"] in _TERMINAL_QUEUE
        )
        if status is None:
            return
        with self.client.get(
            submitted["response_url"],
            headers=self.headers,
            name="queue result",
            catch_response=True,
        ) as r:
            body = r.json() if r.status_code == 200 else {}
            if r.status_code != 200 or body.get("error_type"):
                r.failure(f"status {r.status_code}: {r.text[:200]}")
                return
        for output in body.get("outputs", [])[:1]:
            self.download(output["url"], "queue image")


class ImagesUser(_ImgemuUser):
    """An OpenAI Images application: one synchronous generation, the image inline."""

    weight = 2

    @task
    def generate(self) -> None:
        body = {**self.params(), "model": self.option("images_model", "gpt-image-1-mini")}
        self.post("/v1/images/generations", body, "images generate", lambda t: '"b64_json"' in t)


class StreamUser(_ImgemuUser):
    """An OpenAI Images application that streams: partial images, then the completed event."""

    weight = 1

    @task
    def generate(self) -> None:
        body = {
            **self.params(),
            "model": self.option("images_model", "gpt-image-1-mini"),
            "stream": True,
            "partial_images": 1,
        }
        self.post(
            "/v1/images/generations",
            body,
            "images stream",
            lambda t: "image_generation.completed" in t,
        )


class AAUser(_ImgemuUser):
    """A 典名词元 application: an asynchronous task, polled, then its file."""

    weight = 1

    @task
    def generate(self) -> None:
        body = {
            **self.params(),
            "model": "gpt-image-1.5",
            "images": [{"image_url": self.option("aa_image_url", _AA_IMAGE)}],
            "async": True,
        }
        text = self.post(
            "/api/v1/image/generation", body, "aa submit", lambda t: json.loads(t)["code"] == 0
        )
        if text is None:
            return
        task_id = json.loads(text)["data"]["task_id"]
        done = self.poll(
            f"/api/v1/image/generation/{task_id}",
            "aa task",
            lambda b: b["data"]["task_status"] in ("succeeded", "failed"),
        )
        if done is None:
            return
        if done["data"]["task_status"] != "succeeded":
            self.environment.events.request.fire(
                request_type="TASK",
                name="aa task (failed)",
                response_time=0,
                response_length=0,
                exception=RuntimeError(str(done)[:200]),
                context={},
            )
            return
        self.download(done["data"]["urls"][0], "aa image")
