"""The web application of ``tracker serve``: wiring only; every rule is in tracker.cycle and tracker.queries.

Units reach their page from the personal link in each reminder (no account); the office logs in.
Pages are plain HTML forms, no JavaScript: the Content-Security-Policy forbids every script, so a
note or a file name that carries one is inert even before escaping (which Jinja2 does for all
values). Evidence files are only ever sent back as downloads. Links carry their token in the path,
so pages send no Referer anywhere.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlmodel import Session, select
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tracker import cycle, evidence
from tracker.accounts import authenticate, end_sessions
from tracker.cli.context import Context
from tracker.db import read_session, write_session
from tracker.directory import Directory
from tracker.errors import AccessError, TrackerError
from tracker.links import read_secret, read_token
from tracker.models import OfficeUser, Plan, UnitReport
from tracker.queries import DERIVED, ItemFilter, filter_views, load_views
from tracker.plans import all_plans, resolve_item
from tracker.status import history
from tracker.times import local_text
from tracker.web.security import Actor, FailureLimiter, Signer

SESSION_COOKIE = "tracker_session"
ANON_COOKIE = "tracker_anon"
LIGHT_LABELS = {"green": "绿灯", "yellow": "黄灯", "red": "红灯"}
MESSAGES = {"ack": "已签收。", "progress": "进度已报送。", "done": "完成情况已报送。", "extension": "延期申请已提交，请等待县政府办公室审批。",
            "approved": "已审核通过（办结）。", "returned": "已退回，单位会看到退回原因。", "granted": "已同意延期。",
            "refused": "已不同意延期。"}
HEADERS = {
    "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "Cache-Control": "no-store",
}


class _Headers(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response


class Web:
    """Everything the views share: the context (config, database, clock), the signer, the limiter, templates."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.config = context.config
        web = self.config.settings.web
        self.web = web
        self.engine = context.ready_engine()
        self.signer = Signer(read_secret(web.secret_env, web.secret_file, self.config.base_dir), clock=self.now)
        self.limiter = FailureLimiter(web.failed_token_limit)
        self.uploads = self.config.path(web.upload_folder)
        self.env = Environment(loader=PackageLoader("tracker.web", "templates"), autoescape=select_autoescape(["html"]),
                               undefined=StrictUndefined)
        self.env.globals.update(derived=DERIVED, light_labels=LIGHT_LABELS, reviews=cycle.REVIEWS, decisions=cycle.DECISIONS,
                                actions={"status": "状态", "extend": "延期", **cycle.CYCLE_ACTIONS}, county=self.config.settings.general.county,
                                when=lambda moment: local_text(moment, self.config.tz) if moment else "")

    @property
    def csrf_age(self) -> int:
        return self.web.session_hours * 3600

    def now(self) -> dt.datetime:
        return self.context.real_now()

    def today(self) -> dt.date:
        return self.now().date()

    def page(self, request: Request, name: str, actor: Actor, status: int = 200, **values: Any) -> HTMLResponse:
        csrf = self.signer.csrf_token(actor.key) if actor.key else ""
        message = MESSAGES.get(request.query_params.get("ok", ""), "")
        html = self.env.get_template(name).render(actor=actor, csrf=csrf, message=message, error=values.pop("error", ""),
                                                  today=self.today(), **values)
        return HTMLResponse(html, status_code=status)

    # ---- who is asking ----

    def client(self, request: Request) -> str:
        return request.client.host if request.client else "?"

    def unit_actor(self, request: Request) -> Actor:
        """The unit of the link in the path; a valid link is always served, a bad one is counted against the address."""
        address = self.client(request)
        try:
            with read_session(self.engine) as session:
                unit = read_token(session, self.signer.secret, request.path_params["token"], self.web.link_days, self.now())
        except AccessError:
            if self.limiter.blocked(address):
                raise _TooMany() from None
            self.limiter.fail(address)
            raise
        return Actor("unit", unit.name, unit.id, key=f"unit:{unit.id}:{request.path_params['token']}")

    def office_actor(self, request: Request) -> Actor | None:
        """The signed-in office user: a cookie whose epoch is still the account's, or HTTP Basic on the API."""
        found = self.signer.session_user(request.cookies.get(SESSION_COOKIE), self.csrf_age)
        user, epoch, nonce = found if found else (self._basic_user(request), None, "")
        if user is None:
            return None
        with read_session(self.engine) as session:
            row = session.exec(select(OfficeUser).where(OfficeUser.name == user)).first()
        if row is None or row.disabled or (epoch is not None and epoch != row.session_epoch):
            return None
        return Actor("office", user, key=f"office:{user}:{epoch}:{nonce}")

    def _basic_user(self, request: Request) -> str | None:
        """HTTP Basic for scripts on /api/ (never a browser form): checked against the same accounts."""
        header = request.headers.get("authorization", "")
        if not request.url.path.startswith("/api/") or not header.lower().startswith("basic "):
            return None
        import base64
        import binascii

        try:
            name, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        address = self.client(request)
        if self.limiter.blocked(address):
            raise _TooMany()
        try:
            with read_session(self.engine) as session:
                return authenticate(session, name, password).name
        except AccessError:
            self.limiter.fail(address)
            return None

    async def checked_form(self, request: Request, actor: Actor, *, files: bool = False) -> Any:
        """The form of a POST whose CSRF token belongs to ``actor``; size checked before the body is read."""
        limit = (self.web.max_upload_bytes * 5 + 1024 * 1024) if files else 256 * 1024
        length = request.headers.get("content-length")
        if length is None or not length.isdigit():
            raise _Refused(411, "请求缺少长度信息。")
        if int(length) > limit:
            raise _Refused(413, f"提交的内容太大（上限：每个文件 {self.web.max_upload_mb:g} MB，最多 5 个文件）。")
        form = await request.form(max_files=5 if files else 0, max_fields=50)
        if not self.signer.csrf_ok(str(form.get("csrf") or ""), actor.key, self.csrf_age):
            raise _Refused(403, "表单已过期或来源不明（缺少有效的 CSRF 令牌）。请刷新页面后重新提交。")
        return form


class _TooMany(Exception):
    pass


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _int(value: Any, what: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError as exc:
        raise TrackerError(f"{what}“{value}”不是整数。") from exc


def _date(value: Any, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise TrackerError(f"{what}“{value}”不是有效日期，请写成 YYYY-MM-DD。") from exc


def create_app(context: Context) -> Starlette:
    web = Web(context)

    def error_page(request: Request, status: int, message: str) -> HTMLResponse:
        return web.page(request, "error.html", Actor("anonymous", ""), status=status, error=message)

    def guarded(view: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                return await view(request)
            except _TooMany:
                return error_page(request, 429, "尝试次数过多，请 10 分钟后再试。")
            except _Refused as exc:
                return error_page(request, exc.status, str(exc))
            except AccessError as exc:
                return error_page(request, 403, str(exc))
        return run

    # ---- the unit's page ----

    def unit_page(request: Request, actor: Actor, *, error: str = "", status: int = 200) -> HTMLResponse:
        with read_session(web.engine) as session:
            groups = cycle.unit_tasks(session, actor.unit_id, web.today(), context.calendar, context.lights)  # type: ignore[arg-type]
            histories = {t.view.id: cycle.assignment_history(session, t.view.id) for g in groups for t in g.tasks}
        return web.page(request, "unit.html", actor, status=status, groups=groups, histories=histories, error=error,
                        token=request.path_params["token"], types=", ".join("." + t for t in web.web.upload_types),
                        max_mb=web.web.max_upload_mb)

    async def unit_get(request: Request) -> Response:
        return unit_page(request, web.unit_actor(request))

    async def unit_post(request: Request) -> Response:
        actor = web.unit_actor(request)
        action = request.path_params["action"]
        form = await web.checked_form(request, actor, files=action in ("done", "progress"))
        now, today = web.now(), web.today()
        created: list[Any] = []  # files this request wrote, removed again if the report is not recorded
        try:
            assignment_id = _int(form.get("assignment", ""), "任务编号")
            uploads: list[evidence.Upload] = []
            records: list[dict[str, Any]] = []
            if action in ("done", "progress"):
                for upload in [f for f in form.getlist("files") if isinstance(f, UploadFile) and f.filename]:
                    uploads.append(evidence.Upload(upload.filename or "", await upload.read(web.web.max_upload_bytes + 1)))
                # every file checked before anything is written; nothing is stored until the report is accepted
                records = [evidence.describe(u, allowed=web.web.upload_types, max_bytes=web.web.max_upload_bytes) for u in uploads]
            with write_session(web.engine) as session:
                if action == "ack":
                    cycle.acknowledge(session, assignment_id, unit_id=actor.unit_id, by=actor.journal_name, now=now)  # type: ignore[arg-type]
                elif action == "progress":
                    cycle.report(session, assignment_id, unit_id=actor.unit_id, kind="progress", by=actor.journal_name,  # type: ignore[arg-type]
                                 today=today, now=now, progress=_int(form.get("progress", ""), "进度"), note=str(form.get("note", "")),
                                 evidence=str(form.get("evidence", "")), files=records)
                elif action == "done":
                    cycle.report(session, assignment_id, unit_id=actor.unit_id, kind="done", by=actor.journal_name,  # type: ignore[arg-type]
                                 today=today, now=now, completed_on=_date(form.get("completed_on", ""), "完成日期"),
                                 note=str(form.get("note", "")), evidence=str(form.get("evidence", "")), files=records,
                                 review=context.config.settings.cycle.review)
                elif action == "extension":
                    cycle.request_extension(session, assignment_id, unit_id=actor.unit_id, to=_date(form.get("to", ""), "延期日期"),  # type: ignore[arg-type]
                                            reason=str(form.get("reason", "")), by=actor.journal_name, today=today, now=now,
                                            calendar=context.calendar)
                else:
                    return error_page(request, 404, "没有这个操作。")
                created = [path for u, r in zip(uploads, records) if (path := evidence.write(u, web.uploads, r))]
            created = []  # committed: the report keeps its files
        except AccessError:
            raise
        except TrackerError as exc:
            return unit_page(request, actor, error=str(exc), status=400)
        finally:
            for path in created:  # the report was not committed: its files must not stay behind
                path.unlink(missing_ok=True)
        return RedirectResponse(f"/u/{request.path_params['token']}?ok={action}", status_code=303)

    async def unit_file(request: Request) -> Response:
        actor = web.unit_actor(request)
        with read_session(web.engine) as session:
            report = session.get(UnitReport, _int(request.path_params["report"], "编号"))
            if report is None:
                raise AccessError("没有找到这个文件。")
            cycle.unit_assignment(session, report.assignment_id, actor.unit_id)  # type: ignore[arg-type]
        return _download(report, request.path_params["index"])

    def _download(report: UnitReport, index: str) -> Response:
        files = report.files
        if not index.isdigit() or int(index) >= len(files):
            raise AccessError("没有找到这个文件。")
        record = files[int(index)]
        path = evidence.stored_path(web.uploads, record)
        if not path.is_file():
            raise AccessError("文件已不在上传文件夹中，请联系管理员。")
        name = quote(record["name"])
        return FileResponse(path, media_type="application/octet-stream", headers={
            "Content-Disposition": f"attachment; filename=\"evidence.{record['ext']}\"; filename*=UTF-8''{name}",
            "Content-Security-Policy": "sandbox; default-src 'none'"})

    # ---- office: login ----

    async def login_get(request: Request) -> Response:
        anon = request.cookies.get(ANON_COOKIE) or secrets.token_hex(16)
        response = web.page(request, "login.html", Actor("anonymous", "", key=f"anon:{anon}"))
        response.set_cookie(ANON_COOKIE, anon, httponly=True, samesite="strict", secure=request.url.scheme == "https")
        return response

    async def login_post(request: Request) -> Response:
        anon = request.cookies.get(ANON_COOKIE, "")
        actor = Actor("anonymous", "", key=f"anon:{anon}" if anon else "")
        address = web.client(request)
        if web.limiter.blocked(address):
            raise _TooMany()
        form = await web.checked_form(request, actor)
        try:
            with read_session(web.engine) as session:
                user = authenticate(session, str(form.get("name", "")), str(form.get("password", "")))
        except AccessError as exc:
            web.limiter.fail(address)
            return web.page(request, "login.html", actor, status=403, error=str(exc))
        response = RedirectResponse("/office", status_code=303)
        response.set_cookie(SESSION_COOKIE, web.signer.session_cookie(user.name, user.session_epoch), max_age=web.csrf_age, httponly=True,
                            samesite="lax", secure=request.url.scheme == "https")
        return response

    def office(view: Callable[[Request, Actor], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            actor = web.office_actor(request)
            if actor is None:
                if request.url.path.startswith("/api/"):
                    return JSONResponse({"error": "需要登录：请用县政府办公室账号（HTTP Basic）访问。"}, status_code=401,
                                        headers={"WWW-Authenticate": 'Basic realm="tracker", charset="UTF-8"'})
                return RedirectResponse("/login", status_code=303)
            return await view(request, actor)
        return guarded(run)

    async def logout(request: Request, actor: Actor) -> Response:
        await web.checked_form(request, actor)
        with write_session(web.engine) as session:
            end_sessions(session, actor.name)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    # ---- office: pages ----

    def dashboard_data(session: Session, params: Any) -> tuple[list[Any], dict[str, str], list[str], list[Plan]]:
        today = web.today()
        directory = Directory.load(session)
        chosen = {k: str(params.get(k, "")).strip() for k in ("unit", "light", "state", "plan")}
        flt = ItemFilter(
            unit_ids=frozenset({directory.unit(chosen["unit"]).id}) if chosen["unit"] else None,  # type: ignore[arg-type]
            lights=frozenset({chosen["light"]}) if chosen["light"] in LIGHT_LABELS else frozenset(),
            states=frozenset({chosen["state"]}) if chosen["state"] in DERIVED else frozenset(),
        )
        plans = [p for p in all_plans(session) if p.state == "active"]
        if chosen["plan"] and chosen["plan"] not in {p.code for p in plans}:
            raise TrackerError(f"没有代码为“{chosen['plan']}”的在办计划。请从列表中选择计划。")
        everything = load_views(session, today, context.calendar, context.lights)
        views = filter_views(everything, flt, today)
        units = sorted({a.unit for v in everything for a in v.principals})
        groups = [(p.title or p.code, [v for v in views if v.plan == p.code]) for p in plans
                  if not chosen["plan"] or p.code == chosen["plan"]]
        return groups, chosen, units, plans

    async def dashboard(request: Request, actor: Actor) -> Response:
        with read_session(web.engine) as session:
            try:
                groups, chosen, units, plans = dashboard_data(session, request.query_params)
            except TrackerError as exc:
                return web.page(request, "error.html", actor, status=400, error=str(exc))
            counts = (len(cycle.review_queue(session)), len(cycle.extension_queue(session)))
        return web.page(request, "dashboard.html", actor, groups=groups, chosen=chosen, units=units, counts=counts,
                        plans=plans)

    async def item_page(request: Request, actor: Actor) -> Response:
        today = web.today()
        with read_session(web.engine) as session:
            try:
                item = resolve_item(session, request.path_params["key"])
            except TrackerError as exc:
                return web.page(request, "error.html", actor, status=404, error=str(exc))
            views = load_views(session, today, context.calendar, context.lights, plan_ids=[item.plan_id])  # type: ignore[list-item]
            [view] = [v for v in views if v.item.id == item.id]  # an archived plan's item too: its history stays readable
            ids = [a.id for a in view.principals]
            reports = session.exec(select(UnitReport).where(UnitReport.assignment_id.in_(ids)).order_by(UnitReport.id)).all()  # type: ignore[attr-defined]
            entries = history(session, item, None)
        return web.page(request, "item.html", actor, view=view, reports=reports, entries=entries,
                        names={a.id: a.unit for a in view.principals})

    async def reviews(request: Request, actor: Actor) -> Response:
        with read_session(web.engine) as session:
            queue = cycle.review_queue(session)
        return web.page(request, "reviews.html", actor, queue=queue)

    async def decide(request: Request, actor: Actor, page: str, queue: Callable[[Session], list[cycle.QueueEntry]],
                     steps: dict[str, Callable[[Session, int, Any], object]]) -> Response:
        """One office decision (approve / return a report, grant / refuse an extension) posted from a queue page."""
        action = request.path_params["action"]
        if action not in steps:
            return error_page(request, 404, "没有这个操作。")
        form = await web.checked_form(request, actor)
        try:
            with write_session(web.engine) as session:
                steps[action](session, _int(request.path_params["id"], "编号"), form)
        except TrackerError as exc:
            with read_session(web.engine) as session:
                shown = queue(session)
            return web.page(request, page, actor, status=400, queue=shown, error=str(exc))
        done = {"approve": "approved", "return": "returned", "grant": "granted", "refuse": "refused"}[action]
        return RedirectResponse(f"{request.url.path.rsplit('/', 2)[0]}?ok={done}", status_code=303)

    async def review_post(request: Request, actor: Actor) -> Response:
        by = actor.journal_name
        return await decide(request, actor, "reviews.html", cycle.review_queue, {
            "approve": lambda s, i, f: cycle.approve(s, i, by=by, today=web.today(), now=web.now(), note=str(f.get("note", ""))),
            "return": lambda s, i, f: cycle.return_report(s, i, reason=str(f.get("reason", "")), by=by, today=web.today(),
                                                          now=web.now()),
        })

    async def extensions(request: Request, actor: Actor) -> Response:
        with read_session(web.engine) as session:
            queue = all_requests(session)
        return web.page(request, "extensions.html", actor, queue=queue)

    def all_requests(session: Session) -> list[cycle.QueueEntry]:
        return cycle.extension_queue(session, all_decisions=True)

    async def extension_post(request: Request, actor: Actor) -> Response:
        by = actor.journal_name
        return await decide(request, actor, "extensions.html", all_requests, {
            "grant": lambda s, i, f: cycle.grant_extension(s, i, by=by, now=web.now(), calendar=context.calendar,
                                                           note=str(f.get("note", ""))),
            "refuse": lambda s, i, f: cycle.refuse_extension(s, i, reason=str(f.get("reason", "")), by=by, now=web.now()),
        })

    def weekly(session: Session) -> Any:
        from tracker.cli.mail_commands import report_settings
        from tracker.report import build_weekly_report

        settings = report_settings(context)
        return build_weekly_report(session, web.today(), context.calendar, settings.lights, title=settings.title,
                                   tz=settings.tz, acknowledge_within=settings.acknowledge_within)

    async def report_page(request: Request, actor: Actor) -> Response:
        from notifications.weekly import render_html

        with read_session(web.engine) as session:
            report = weekly(session)
        return HTMLResponse(render_html(report))

    async def office_file(request: Request, actor: Actor) -> Response:
        with read_session(web.engine) as session:
            report = session.get(UnitReport, _int(request.path_params["report"], "编号"))
        if report is None:
            raise AccessError("没有找到这个文件。")
        return _download(report, request.path_params["index"])

    # ---- the JSON API (the same reads, for scripts) ----

    async def api_items(request: Request, actor: Actor) -> Response:
        with read_session(web.engine) as session:
            try:
                groups, _chosen, _units, _plans = dashboard_data(session, request.query_params)
            except TrackerError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"plans": [{"title": title, "items": [v.to_json() for v in views]} for title, views in groups]})

    async def api_reviews(request: Request, actor: Actor) -> Response:
        with read_session(web.engine) as session:
            return JSONResponse([q.to_json(context.config.tz) for q in cycle.review_queue(session)])

    async def api_extensions(request: Request, actor: Actor) -> Response:
        with read_session(web.engine) as session:
            return JSONResponse([q.to_json(context.config.tz) for q in cycle.extension_queue(session, all_decisions=True)])

    async def api_report(request: Request, actor: Actor) -> Response:
        with read_session(web.engine) as session:
            return JSONResponse(weekly(session).to_json())

    async def api_unit(request: Request) -> Response:
        actor = web.unit_actor(request)
        with read_session(web.engine) as session:
            groups = cycle.unit_tasks(session, actor.unit_id, web.today(), context.calendar, context.lights)  # type: ignore[arg-type]
        return JSONResponse({"unit": actor.name, "plans": [{"title": g.title, "tasks": [t.to_json(context.config.tz) for t in g.tasks]}
                                                           for g in groups]})

    async def root(request: Request) -> Response:
        return RedirectResponse("/office", status_code=303)

    routes = [
        Route("/", root),
        Route("/u/{token}", guarded(unit_get)),
        Route("/u/{token}/files/{report}/{index}", guarded(unit_file)),
        Route("/u/{token}/{action}", guarded(unit_post), methods=["POST"]),
        Route("/login", guarded(login_get)),
        Route("/login", guarded(login_post), methods=["POST"]),
        Route("/logout", office(logout), methods=["POST"]),
        Route("/office", office(dashboard)),
        Route("/office/items/{key}", office(item_page)),
        Route("/office/reviews", office(reviews)),
        Route("/office/reviews/{id}/{action:str}", office(review_post), methods=["POST"]),
        Route("/office/extensions", office(extensions)),
        Route("/office/extensions/{id}/{action:str}", office(extension_post), methods=["POST"]),
        Route("/office/report", office(report_page)),
        Route("/office/files/{report}/{index}", office(office_file)),
        Route("/api/items", office(api_items)),
        Route("/api/reviews", office(api_reviews)),
        Route("/api/extensions", office(api_extensions)),
        Route("/api/report", office(api_report)),
        Route("/api/unit/{token}", guarded(api_unit)),
    ]
    return Starlette(routes=routes, middleware=[Middleware(_Headers)])

