"""The station page's operations beyond the plain remote commands: its
sections (configuration or device model, firmware and uploads, security
profile and events) and the operations that go through their own services
(local list sync, firmware update, log request, an upload's download).

Everything through the services the composition root hands over (the API's
:class:`ApiContext`: files, local lists, security; the API's providers of
the device model), so scope and hidden fields hold exactly as in the API."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.response import Redirect, Stream

from admin_ui.api.common import Id
from admin_ui.api.context import ApiContext
from admin_ui.api.device_model import provide_device_model
from admin_ui.api.security import provide_security
from admin_ui.web.commands import describe
from admin_ui.web.i18n import NONE, zone
from admin_ui.web.metering import MessageReader
from crm.access import Principal
from crm.errors import Conflict, Forbidden, InvalidInput, NotFound
from csms.domain.files import FirmwareUpdateRequest, LogRequest
from csms.domain.local_list import SyncRequest
from csms.domain.station_admin import Station, StationAdmin, StationCreate

# Messages of the log read to find the station's configuration and the
# latest firmware and log status (newest first).
SCAN_MESSAGES = 1000
# Rows of a section (variables per page, firmware images, security events).
VARIABLES_PAGE = 50
FIRMWARE_CHOICES = 100
SECURITY_EVENTS = 20
# A message's type in the log: CALL, CALLRESULT.
CALL, CALLRESULT = 2, 3

Gettext = Callable[[str], str]
# Renders the station page with extra values: (request, principal,
# station_id, status_code, **values).
ShowStation = Callable[..., Awaitable[Response[str]]]
# Renders the station list: (request, principal, status_code, **values).
ShowStations = Callable[..., Awaitable[Response[str]]]
# The create form's fields, as the service names them.
CREATE_FIELDS = ("charge_point_id", "description", "registration_status", "secret", "city")


def _payload(text: Any) -> dict[str, Any] | None:
    """The JSON object a logged frame carries (its payload, or a whole
    frame's last element); None for anything else."""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, list) and value and isinstance(value[-1], dict):
        value = value[-1]
    return value if isinstance(value, dict) else None


def log_facts(messages: list[Any]) -> dict[str, Any]:
    """From a station's logged messages (oldest first): its 1.6
    configuration as the latest GetConfiguration answers give it (a partial
    read adds to the full read before it; newer values win), and the latest
    firmware and diagnostics/log status it reported."""
    requests: dict[str, dict[str, Any] | None] = {}
    for message in messages:
        if message.direction == "out" and message.message_type == CALL:
            requests[message.unique_id] = _payload(message.payload)
    keys: dict[str, dict[str, Any]] = {}
    unknown: list[str] = []
    read_at: datetime | None = None
    complete = False
    firmware: dict[str, Any] | None = None
    upload: dict[str, Any] | None = None
    for message in reversed(messages):
        action = message.action
        if (
            action == "GetConfiguration"
            and message.direction == "in"
            and message.message_type == CALLRESULT
            and not complete
        ):
            answer = _payload(message.payload) or {}
            for item in answer.get("configurationKey") or []:
                if isinstance(item, dict) and isinstance(item.get("key"), str):
                    keys.setdefault(item["key"], item)
            if read_at is None:
                read_at = message.logged_at
                unknown = [str(k) for k in answer.get("unknownKey") or []]
            request = requests.get(message.unique_id) or {}
            # A read of every key: what came before it is older.
            complete = not request.get("key")
        elif message.direction == "in" and message.message_type == CALL:
            if action == "FirmwareStatusNotification" and firmware is None:
                payload = _payload(message.payload) or {}
                firmware = {"status": str(payload.get("status", "")), "at": message.logged_at}
            elif action in ("DiagnosticsStatusNotification", "LogStatusNotification") and (
                upload is None
            ):
                payload = _payload(message.payload) or {}
                upload = {"status": str(payload.get("status", "")), "at": message.logged_at}
    configuration = [
        {
            "key": key,
            "value": item.get("value"),
            "readonly": bool(item.get("readonly")),
        }
        for key, item in sorted(keys.items(), key=lambda pair: pair[0].lower())
    ]
    return {
        "configuration": configuration,
        "configuration_read_at": read_at,
        "unknown_keys": unknown,
        "firmware_status": firmware,
        "upload_status": upload,
    }


class StationSections:
    """What the station page shows beyond its live part: each section read
    through its service; a section the user may not read (or a service
    this process lacks) is left out, never an error page."""

    def __init__(self, context: ApiContext, message_log: MessageReader | None) -> None:
        self.context = context
        self.message_log = message_log
        self.device_model = provide_device_model(context)
        self.security = provide_security(context)

    async def values(
        self, request: Request, principal: Principal, station: Station
    ) -> dict[str, Any]:
        facts: dict[str, Any] = log_facts(
            await self.message_log(station.charge_point_id, limit=SCAN_MESSAGES)
            if self.message_log is not None
            else []
        )
        is_201 = station.protocol.startswith("ocpp2")
        facts["is_16"] = not is_201
        facts["is_201"] = is_201 or not station.protocol
        variables: list[Any] = []
        variables_total = 0
        number = _page_number(request.query_params.get("vpage"))
        if facts["is_201"]:
            with contextlib.suppress(Forbidden, NotFound):
                variables, variables_total = await self.device_model.variables(
                    principal,
                    station.id,
                    limit=VARIABLES_PAGE,
                    offset=(number - 1) * VARIABLES_PAGE,
                )
        pages = max(1, -(-variables_total // VARIABLES_PAGE))
        facts.update(
            variables=variables,
            variables_total=variables_total,
            variables_page=min(number, pages),
            variables_pages=pages,
        )
        files = self.context.files
        facts["firmware_files"] = []
        facts["uploads"] = []
        facts["files_available"] = files is not None
        if files is not None:
            try:
                facts["firmware_files"], _ = await files.list_firmware(
                    principal, limit=FIRMWARE_CHOICES, offset=0
                )
                facts["uploads"] = await files.uploads(principal, station.id)
            except (Forbidden, NotFound):
                pass
        facts["security"] = None
        facts["security_events"] = []
        facts["security_events_total"] = 0
        try:
            facts["security"] = await self.security.state(principal, station.id)
            events, total = await self.security.list_events(
                principal, station.id, limit=SECURITY_EVENTS, offset=0
            )
            facts["security_events"], facts["security_events_total"] = events, total
        except (Forbidden, NotFound):
            pass
        facts["local_list"] = None
        if self.context.local_lists is not None:
            with contextlib.suppress(Forbidden, NotFound):
                facts["local_list"] = await self.context.local_lists.view(principal, station.id)
        return facts


def field_message(text: str, fields: tuple[str, ...]) -> tuple[str, str]:
    """The field an API-style message names ("charge_point_id: ...") and
    the message without it; the form's own error when it names none."""
    name, colon, rest = text.partition(":")
    if colon and name.strip() in fields:
        return name.strip(), rest.strip()
    return "form", text


def _page_number(text: str | None) -> int:
    try:
        return min(max(int(text or 1), 1), 10**6)
    except ValueError:
        return 1


def _form_text(form: Mapping[str, Any], name: str, limit: int = 200) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


def parse_local_time(text: str, time_zone: str) -> datetime | None:
    """A ``datetime-local`` field's value in the entity's time zone; None
    when empty; ValueError when it is no such time."""
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    if not 2000 <= moment.year <= 2100:
        raise ValueError(f"{text!r} is no time a charger retrieves firmware at")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(time_zone))
    return moment


def _whole(text: str) -> bool:
    """Digits 0-9 only (``str.isdigit`` also takes other scripts' digits)."""
    return text.isascii() and text.isdigit()


def station_ops_handlers(
    context: ApiContext,
    pages: Any,
    show_station: ShowStation,
    show_stations: ShowStations,
    stations: StationAdmin,
) -> list[Any]:
    """The handlers of the station page's operations; ``pages`` gives the
    shared helpers of admin_ui.web.pages (principal, CSRF, gettext),
    ``show_station`` renders the station page with a result or errors,
    ``show_stations`` the station list; ``stations`` is the API's station
    service (create and remove as POST /stations and DELETE /stations/{id})."""

    def outcome_result(outcome: Any, _: Gettext, note: str = "") -> dict[str, Any]:
        result = describe(outcome, _)
        if note:
            result["note"] = note
        return result

    @post("/stations/{station_id:int}/local-list/sync")
    async def sync_local_list(request: Request, station_id: Id) -> Response[str]:
        """The station's local list brought to what the media registry says
        (a differential when it holds the version we recorded, else full;
        ``full``: always the whole list), as the API's sync does."""
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        _ = pages.gettext(request)
        if context.local_lists is None:
            result = {"kind": "bad", "text": _("This process sends no commands to stations.")}
            return await show_station(
                request, principal, station_id, 400, result=result, command="local-list"
            )
        full = _form_text(form, "full") == "yes"
        done = await context.local_lists.sync_for(principal, station_id, SyncRequest(full=full))
        if done.synced:
            result = {
                "kind": "ok",
                "text": _(
                    "The station holds the list: version %(version)s, %(entries)s entries "
                    "(%(update)s, %(sent)s sent)."
                )
                % {
                    "version": done.version if done.version is not None else NONE,
                    "entries": done.entries,
                    "update": done.update,
                    "sent": done.sent,
                },
            }
        elif done.outcome is not None:
            result = describe(done.outcome, _)
        else:
            result = {"kind": "warn", "text": _("The list was not synchronised.")}
        return await show_station(
            request, principal, station_id, 200, result=result, command="local-list"
        )

    @post("/stations/{station_id:int}/firmware-update")
    async def firmware_update(request: Request, station_id: Id) -> Response[str]:
        """UpdateFirmware with an uploaded image's download URL, as the API's
        firmware update does; progress arrives as FirmwareStatusNotification."""
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        _ = pages.gettext(request)
        errors: dict[str, str] = {}
        firmware_text = _form_text(form, "firmware_id", 20)
        if not _whole(firmware_text) or not 1 <= int(firmware_text) <= 2**31 - 1:
            errors["firmware_id"] = _("Choose a firmware image.")
        brand = await pages.brand(principal)
        retrieve_at = None
        try:
            retrieve_at = parse_local_time(_form_text(form, "retrieve_at", 40), brand.time_zone)
        except ValueError:
            errors["retrieve_at"] = _("Enter a date and time, or leave it empty for now.")
        if errors or context.files is None:
            if context.files is None:
                errors["form"] = _("This process hosts no files.")
            return await show_station(
                request, principal, station_id, 400, errors=errors, command="firmware-update"
            )
        try:
            done = await context.files.firmware_update(
                principal,
                station_id,
                FirmwareUpdateRequest(firmware_id=int(firmware_text), retrieve_at=retrieve_at),
            )
        except NotFound as error:
            # The station was checked first: what is missing is the image.
            if "firmware" not in str(error):
                raise
            errors["firmware_id"] = _("There is no such firmware image.")
            return await show_station(
                request, principal, station_id, 400, errors=errors, command="firmware-update"
            )
        note = _("Location sent: %(location)s") % {"location": done.location}
        return await show_station(
            request,
            principal,
            station_id,
            200,
            result=outcome_result(done.outcome, _, note),
            command="firmware-update",
        )

    @post("/stations/{station_id:int}/log-request")
    async def log_request(request: Request, station_id: Id) -> Response[str]:
        """An upload slot and GetDiagnostics / GetLog, as the API's log
        request does; the file appears under the station's uploads."""
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        _ = pages.gettext(request)
        errors: dict[str, str] = {}
        kind = _form_text(form, "kind", 20)
        if kind not in ("diagnostics", "security"):
            errors["kind"] = _("Choose diagnostics or the security log.")
        if errors or context.files is None:
            if context.files is None:
                errors["form"] = _("This process hosts no files.")
            return await show_station(
                request, principal, station_id, 400, errors=errors, command="log-request"
            )
        done = await context.files.request_log(
            principal,
            station_id,
            LogRequest(kind=kind),  # type: ignore[arg-type]
        )
        note = _("The station may upload until %(until)s.") % {
            "until": done.slot.expires_at.strftime("%Y-%m-%d %H:%M UTC")
        }
        return await show_station(
            request,
            principal,
            station_id,
            200,
            result=outcome_result(done.outcome, _, note),
            command="log-request",
        )

    @get("/stations/{station_id:int}/uploads/{upload_id:int}")
    async def upload_download(request: Request, station_id: Id, upload_id: Id) -> Stream:
        """A file the station uploaded (diagnostics, a log), as an attachment."""
        principal = await pages.principal(request)
        if context.files is None:
            raise NotFound("this process hosts no files")
        upload, content = await context.files.upload_content(principal, upload_id)
        if upload.station_id != station_id:
            raise NotFound(f"there is no upload {upload_id} of station {station_id}")
        fallback = upload.filename.encode("ascii", "replace").decode().replace("?", "_")
        fallback = fallback.replace('"', "_").replace("\\", "_")
        return pages.finish(  # type: ignore[no-any-return]
            request,
            Stream(
                content,
                media_type="application/octet-stream",
                headers={
                    "Content-Length": str(upload.size),
                    "Content-Disposition": (
                        f'attachment; filename="{fallback}"; '
                        f"filename*=UTF-8''{quote(upload.filename)}"
                    ),
                },
            ),
        )

    @post("/stations/{station_id:int}/firmware", request_max_body_size=None)
    async def firmware_upload(request: Request, station_id: Id) -> Response[str]:
        """A firmware image uploaded from the station page (as the API's
        POST /firmware: owned by the active entity, at most
        CSMS_FIRMWARE_MAX_BYTES), then offered by the update form."""
        principal = await pages.principal(request)
        _ = pages.gettext(request)
        files = context.files
        errors: dict[str, str] = {}
        if files is None:
            errors["file"] = _("This process hosts no files.")
            return await show_station(
                request, principal, station_id, 400, errors=errors, command="firmware-upload"
            )
        # Permission first: nobody without it gets to send us a body.
        principal.require("stations", "update")
        declared = request.headers.get("content-length", "")
        if _whole(declared) and int(declared) > files.firmware_max_bytes + FORM_OVERHEAD:
            errors["file"] = _("The file is larger than %(size)s bytes.") % {
                "size": files.firmware_max_bytes
            }
            return await show_station(
                request, principal, station_id, 413, errors=errors, command="firmware-upload"
            )
        form = await request.form()
        pages.csrf_ok(request, form)
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            errors["file"] = _("Choose a file.")
            return await show_station(
                request, principal, station_id, 400, errors=errors, command="firmware-upload"
            )
        description = form.get("description")
        try:
            added = await files.add_firmware(
                principal,
                filename=upload.filename,
                chunks=_chunks(upload),
                description=description if isinstance(description, str) else "",
            )
        except InvalidInput as error:
            errors["file"] = str(error)
            return await show_station(
                request, principal, station_id, 400, errors=errors, command="firmware-upload"
            )
        finally:
            await upload.close()
        result = {
            "kind": "ok",
            "text": _(
                "Firmware %(name)s uploaded (%(size)s bytes): choose it under Firmware update."
            )
            % {"name": added.filename, "size": added.size},
            "note": "SHA-256 " + added.sha256,
        }
        return await show_station(
            request, principal, station_id, 201, result=result, command="firmware-upload"
        )

    @post("/stations")
    async def create_station(request: Request) -> Response[str]:
        """A station registered from the list's form through the API's
        station service (as POST /stations and ``csms station add``); a
        generated secret is shown this once."""
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        _ = pages.gettext(request)
        entered = {name: _form_text(form, name, 100) for name in CREATE_FIELDS}
        generate = _form_text(form, "generate_secret") == "yes"
        errors: dict[str, str] = {}
        if not entered["charge_point_id"]:
            errors["charge_point_id"] = _("Enter the charge point id.")
        if entered["registration_status"] not in ("Accepted", "Pending"):
            errors["registration_status"] = _("Choose Accepted or Pending.")
        if generate and entered["secret"]:
            errors["secret"] = _("Enter a secret or have one generated, not both.")
        if not errors:
            data = StationCreate(
                charge_point_id=entered["charge_point_id"],
                description=entered["description"],
                registration_status=entered["registration_status"],
                secret=entered["secret"] or None,
                generate_secret=generate,
                city=entered["city"],
            )
            try:
                created = await stations.create_station(principal, data)
            except Conflict:
                errors["charge_point_id"] = _("A station with this charge point id exists.")
            except InvalidInput as error:
                name, message = field_message(str(error), CREATE_FIELDS)
                errors[name] = message
            else:
                text = _("Station %(id)s added.") % {"id": created.charge_point_id}
                if created.secret:
                    text += " " + _("Its basic-auth secret, shown this once: %(secret)s") % {
                        "secret": created.secret
                    }
                notice = {"kind": "ok", "text": text, "station_id": created.id}
                return await show_stations(request, principal, 201, notice=notice)
        entered.pop("secret")
        return await show_stations(
            request, principal, 400, errors=errors, entered=entered, open_create=True
        )

    @get("/stations/{station_id:int}/remove")
    async def remove_form(request: Request, station_id: Id) -> Response[str]:
        """Asks to confirm the removal (nothing is removed by a GET)."""
        principal = await pages.principal(request)
        station = await stations.get_station(principal, station_id)
        return await pages.render_page(  # type: ignore[no-any-return]
            request, "station_remove.html", principal, station=station, error=None
        )

    @post("/stations/{station_id:int}/remove")
    async def remove_station(request: Request, station_id: Id) -> Response[Any]:
        """Removes a station without sessions (as DELETE /stations/{id} and
        ``csms station remove``); one with sessions is kept, and the
        confirmation page says why."""
        principal = await pages.principal(request)
        form = await request.form()
        pages.csrf_ok(request, form)
        _ = pages.gettext(request)
        try:
            removed = await stations.remove_station(principal, station_id)
        except Conflict:
            station = await stations.get_station(principal, station_id)
            error = _(
                "The station has sessions: it is kept for their history. Set its "
                "registration to Rejected instead to keep it out."
            )
            return await pages.render_page(  # type: ignore[no-any-return]
                request, "station_remove.html", principal, 409, station=station, error=error
            )
        target = "/stations?" + urlencode({"removed": removed.charge_point_id})
        return pages.finish(request, Redirect(path=target, status_code=303))  # type: ignore[no-any-return]

    return [
        create_station,
        remove_form,
        remove_station,
        sync_local_list,
        firmware_update,
        log_request,
        upload_download,
        firmware_upload,
    ]


# Multipart framing around a file: the body may exceed the file by this.
FORM_OVERHEAD = 64 * 1024
UPLOAD_CHUNK = 256 * 1024


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(UPLOAD_CHUNK):
        yield chunk
