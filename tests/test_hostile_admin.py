"""Hostile input against the admin UI and the audit log (issue 11: trust boundary).

Sessions that must end, throttled logins, timing that must not tell known e-mails from unknown
ones, cookie flags and security headers; an audit log rewritten, cut back or emptied by someone
with write access to the database. Flask's test client and a cheap password hash keep it fast.
"""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from billing.cli.main import main
from billing.wsgi import create_app
from engine.access import people
from engine.access.people import create_person
from engine.ledger import audit
from engine.ledger.tables import audit_log, users
from tests.test_admin import NOW

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a different long password"
CHEAP_HASH = "pbkdf2:sha256:1000"


@pytest.fixture
def cheap_hash(monkeypatch):
    monkeypatch.setattr(people, "PASSWORD_METHOD", CHEAP_HASH)


@pytest.fixture
def sqlite_engine(tmp_path, catalog, decider, monkeypatch):
    from engine.engine import Engine

    monkeypatch.delenv("BILLING_AUDIT_KEY", raising=False)
    monkeypatch.delenv("BILLING_AUDIT_KEY_FILE", raising=False)
    engine = Engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}", catalog=catalog, decider=decider)
    yield engine
    engine.close()


@pytest.fixture
def app(sqlite_engine, cheap_hash):
    app = create_app(engine=sqlite_engine)
    app.config.update(SECRET_KEY="test", BILLING_NOW=lambda: NOW)
    with sqlite_engine.store.db.begin() as connection:
        create_person(connection, "legal@example.com", "legal", PASSWORD)
        create_person(connection, "viewer@example.com", "viewer", PASSWORD)
    return app


@pytest.fixture
def url(sqlite_engine) -> str:
    return sqlite_engine.store.url


def csrf(page: bytes) -> str:
    return re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()


def attempt(client, email: str, password: str = PASSWORD):
    token = csrf(client.get("/admin/login").data)
    return client.post(
        "/admin/login", data={"email": email, "password": password, "csrf_token": token}
    )


def logged_in(app, email: str = "legal@example.com", address: str = "127.0.0.1"):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    response = attempt(client, email)
    assert response.status_code == 302, response.data
    return client


def session_cookie(client) -> str:
    return client.get_cookie("session").value


def with_cookie(app, value: str):
    """A fresh browser that presents a copied session cookie."""
    client = app.test_client()
    client.set_cookie("session", value)
    return client


def in_session(client) -> bool:
    return client.get("/admin/").status_code == 200


def cli(*args: str, password: str | None = None, monkeypatch=None) -> int:
    if password is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return main(list(args))


# -- sessions end ------------------------------------------------------------------------------


def test_after_logout_a_copied_session_cookie_no_longer_works(app):
    client = logged_in(app)
    copied = session_cookie(client)
    other_browser = logged_in(app)
    assert in_session(with_cookie(app, copied))
    client.post("/admin/logout", data={"csrf_token": csrf(client.get("/admin/").data)})
    replayed = with_cookie(app, copied)
    response = replayed.get("/admin/")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    assert b"Your session has ended" in replayed.get("/admin/login").data
    # Logging out ends every session of the person, the other browser's too.
    assert not in_session(other_browser)


def test_user_disable_ends_the_session_and_refuses_the_login_until_enabled(
    app, url, monkeypatch, capsys
):
    client = logged_in(app, "viewer@example.com")
    assert cli("user", "disable", "viewer@example.com", "--db", url) == 0
    assert not in_session(client)
    refused = attempt(app.test_client(), "viewer@example.com")
    assert refused.status_code == 401 and b"Wrong e-mail or password." in refused.data
    assert cli("user", "list", "--db", url) == 0
    assert re.search(r"viewer@example.com\tviewer\tcreated \S+\tdisabled ", capsys.readouterr().out)
    assert cli("user", "enable", "viewer@example.com", "--db", url) == 0
    assert in_session(logged_in(app, "viewer@example.com"))


def test_set_role_ends_the_session_and_the_new_login_has_the_new_role(app, url):
    client = logged_in(app, "viewer@example.com")
    assert b"viewer@example.com (viewer)" in client.get("/admin/").data
    assert cli("user", "set-role", "viewer@example.com", "legal", "--db", url) == 0
    assert not in_session(client)
    again = logged_in(app, "viewer@example.com")
    assert b"viewer@example.com (legal)" in again.get("/admin/").data
    assert cli("user", "set-role", "viewer@example.com", "admin", "--db", url) == 2


def test_set_password_ends_the_session_and_only_the_new_password_works(app, url, monkeypatch):
    client = logged_in(app)
    short = cli(
        "user", "set-password", "legal@example.com", "--db", url, password="short",
        monkeypatch=monkeypatch,
    )  # fmt: skip
    assert short == 2
    assert in_session(client)
    status = cli(
        "user", "set-password", "legal@example.com", "--db", url, password=NEW_PASSWORD,
        monkeypatch=monkeypatch,
    )  # fmt: skip
    assert status == 0
    assert not in_session(client)
    assert attempt(app.test_client(), "legal@example.com").status_code == 401
    assert attempt(app.test_client(), "legal@example.com", NEW_PASSWORD).status_code == 302


def test_a_deleted_persons_session_ends(app, sqlite_engine):
    client = logged_in(app, "viewer@example.com")
    with sqlite_engine.store.db.begin() as connection:
        connection.execute(delete(users).where(users.c.email == "viewer@example.com"))
    assert not in_session(client)


def test_a_session_cookie_without_the_epoch_is_refused(app):
    # A cookie signed before sessions carried an epoch (or crafted without one) does not count.
    client = logged_in(app)
    with client.session_transaction() as session:
        del session["epoch"]
    assert not in_session(client)


def test_every_change_of_a_person_is_audited_with_who_made_it(app, url, monkeypatch):
    cli("user", "disable", "viewer@example.com", "--db", url)
    cli("user", "enable", "viewer@example.com", "--db", url)
    cli("user", "set-role", "viewer@example.com", "product", "--db", url)
    cli(
        "user", "set-password", "viewer@example.com", "--db", url, password=NEW_PASSWORD,
        monkeypatch=monkeypatch,
    )  # fmt: skip
    with app.extensions["billing.engine"].store.db.connect() as connection:
        rows = audit.entries(connection)
    changes = [(e["action"], e["detail"]) for e in reversed(rows) if e["action"] != "user_created"]
    assert changes == [
        ("user_disabled", {"email": "viewer@example.com"}),
        ("user_enabled", {"email": "viewer@example.com"}),
        ("user_role_changed", {"email": "viewer@example.com", "role": "product"}),
        ("user_password_changed", {"email": "viewer@example.com"}),
    ]
    assert all(e["actor"].startswith("cli:") for e in rows if e["action"] != "user_created")
    assert "password" not in json.dumps([e["detail"] for e in rows]).replace("password_", "")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_password_is_prompted_twice_without_echo(url, monkeypatch, cheap_hash):
    answers = [PASSWORD, PASSWORD, NEW_PASSWORD, "typo in the second one"]
    prompts = []

    def getpass(prompt: str = "Password: ") -> str:
        prompts.append(prompt)
        return answers.pop(0)

    monkeypatch.setattr("sys.stdin", Terminal("never read\n"))
    monkeypatch.setattr("getpass.getpass", getpass)
    assert main(["user", "create", "t@example.com", "--role", "viewer", "--db", url]) == 0
    assert main(["user", "set-password", "t@example.com", "--db", url]) == 2  # they differ
    assert prompts == ["Password: ", "Password again: "] * 2


def test_changing_an_unknown_person_fails(url):
    assert main(["user", "disable", "nobody@example.com", "--db", url]) == 2


# -- throttling and timing ---------------------------------------------------------------------


def test_failed_logins_per_account_are_throttled_with_429(app):
    app.config["BILLING_LOGIN_LIMIT_ACCOUNT"] = "3 per minute"
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):  # three addresses, one account
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        assert attempt(client, "legal@example.com", "wrong password!!").status_code == 401
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.0.0.4"
    throttled = attempt(client, "legal@example.com")  # even the right password
    assert throttled.status_code == 429
    assert b"Too many failed logins" in throttled.data
    assert "Retry-After" in throttled.headers
    # Another account is not affected.
    assert attempt(client, "viewer@example.com").status_code == 302


def test_failed_logins_per_address_are_throttled_with_429(app):
    app.config["BILLING_LOGIN_LIMIT_ADDRESS"] = "4 per minute"
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    for number in range(4):  # four different e-mails from one address
        assert attempt(client, f"guess{number}@example.com").status_code == 401
    assert attempt(client, "legal@example.com").status_code == 429
    assert attempt(logged_in(app, address="192.0.2.8"), "viewer@example.com").status_code == 302


def test_successful_logins_do_not_count(app):
    app.config["BILLING_LOGIN_LIMIT_ACCOUNT"] = "2 per minute"
    for _ in range(4):
        logged_in(app)


def test_unknown_and_known_e_mails_both_check_a_password_hash(app, monkeypatch):
    checked = []
    real = people.check_password_hash

    def counting(stored, password):
        checked.append(stored.split("$")[0])
        return real(stored, password)

    monkeypatch.setattr(people, "check_password_hash", counting)
    client = app.test_client()
    assert attempt(client, "nobody@example.com").status_code == 401
    assert attempt(client, "legal@example.com", "wrong password!!").status_code == 401
    assert checked == [CHEAP_HASH, CHEAP_HASH]  # the dummy hash has the real work factor


def test_unknown_and_known_e_mails_take_about_as_long(sqlite_engine, monkeypatch):
    monkeypatch.setattr(people, "PASSWORD_METHOD", "pbkdf2:sha256:60000")
    with sqlite_engine.store.db.begin() as connection:
        create_person(connection, "known@example.com", "viewer", PASSWORD)

    def duration(email: str) -> float:
        """The fastest of a few attempts: robust against a busy machine."""
        times = []
        with sqlite_engine.store.db.connect() as connection:
            for _ in range(5):
                start = time.perf_counter()
                assert people.check_login(connection, email, "wrong password!!") is None
                times.append(time.perf_counter() - start)
        return min(times)

    known, unknown = duration("known@example.com"), duration("unknown@example.com")
    assert 0.4 < unknown / known < 2.5, (known, unknown)


# -- cookies and headers -----------------------------------------------------------------------


def test_the_session_cookie_is_samesite_lax_and_httponly_not_secure_over_http(app):
    response = attempt(app.test_client(), "legal@example.com")
    cookie = response.headers["Set-Cookie"]
    assert "SameSite=Lax" in cookie and "HttpOnly" in cookie and "Secure" not in cookie
    assert "Strict-Transport-Security" not in response.headers


def test_with_billing_https_the_session_cookie_is_secure(sqlite_engine, cheap_hash, monkeypatch):
    monkeypatch.setenv("BILLING_HTTPS", "1")
    app = create_app(engine=sqlite_engine)
    app.config.update(SECRET_KEY="test", BILLING_NOW=lambda: NOW)
    with sqlite_engine.store.db.begin() as connection:
        create_person(connection, "legal@example.com", "legal", PASSWORD)
    client = app.test_client()
    token = csrf(client.get("/admin/login", base_url="https://localhost").data)
    response = client.post(
        "/admin/login",
        base_url="https://localhost",
        headers={"Referer": "https://localhost/admin/login"},  # Flask-WTF checks it over HTTPS
        data={"email": "legal@example.com", "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "SameSite=Lax" in cookie and "HttpOnly" in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.parametrize(
    "path", ["/admin/login", "/admin/", "/admin/audit", "/health", "/api/v1/accounts/x", "/nope"]
)
def test_every_response_carries_the_security_headers(app, path):
    client = logged_in(app)
    response = client.get(path)
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "'unsafe-inline'" not in policy
    assert "script-src" not in policy  # default-src 'none': no script at all


def test_the_admin_pages_need_no_inline_script_or_style():
    templates = Path(__file__).parents[1] / "admin_ui" / "templates"
    for template in templates.glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"<script|<style|\sstyle=|\son[a-z]+=", text), template.name


def test_the_style_sheet_is_served_before_login(app):
    with app.test_client().get("/admin/static/admin.css") as response:
        assert response.status_code == 200 and response.mimetype == "text/css"
        assert b"font:" in response.data


# -- the audit log against someone with write access to the database ---------------------------


@pytest.fixture
def audited(engine, tmp_path, monkeypatch, cheap_hash):
    """A database with a few audited changes, its URL and a checkpoint taken afterwards."""
    monkeypatch.delenv("BILLING_AUDIT_KEY", raising=False)
    monkeypatch.setenv("BILLING_AUDIT_KEY_FILE", str(tmp_path / "keys" / "audit.key"))
    with engine.store.db.begin() as connection:
        for number in range(4):
            create_person(connection, f"p{number}@example.com", "viewer", PASSWORD)
    url = engine.store.url
    checkpoint = tmp_path / "checkpoint.json"
    assert main(["audit", "checkpoint", "--out", str(checkpoint), "--db", url]) == 0
    assert main(["audit", "verify", "--checkpoint", str(checkpoint), "--db", url]) == 0
    return engine, url, checkpoint


def verify(url: str, capsys, *options: str) -> tuple[int, str]:
    capsys.readouterr()
    status = main(["audit", "verify", "--db", url, *options])
    return status, capsys.readouterr().out


def test_the_audit_key_file_is_created_with_mode_0600(audited, tmp_path):
    key = tmp_path / "keys" / "audit.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert len(key.read_text().strip()) == 64


def test_deleting_the_newest_audit_entries_is_found_with_the_checkpoint(audited, capsys):
    engine, url, checkpoint = audited
    with engine.store.db.begin() as connection:
        newest = connection.execute(select(audit_log.c.id).order_by(audit_log.c.id.desc()))
        doomed = [row.id for row in newest.fetchmany(2)]
        connection.execute(delete(audit_log).where(audit_log.c.id.in_(doomed)))
    # Without a checkpoint the chain alone looks fine, and verify says that it cannot know:
    status, out = verify(url, capsys)
    assert status == 0 and out.startswith("OK: 2 entries chained; no checkpoint given")
    assert "removed newest entries or an emptied log cannot be detected" in out
    status, out = verify(url, capsys, "--checkpoint", str(checkpoint))
    assert status == 1
    assert "holds 2 entries, but the checkpoint of" in out and "counted 4" in out
    assert "truncated" in out


def test_deleting_every_audit_entry_is_found_with_the_checkpoint(audited, capsys):
    engine, url, checkpoint = audited
    with engine.store.db.begin() as connection:
        connection.execute(delete(audit_log))
    assert verify(url, capsys)[0] == 0
    status, out = verify(url, capsys, "--checkpoint", str(checkpoint))
    assert status == 1 and "holds 0 entries" in out and "counted 4" in out


def _recompute(engine, key: bytes | None) -> None:
    """Change an entry and recompute the whole chain, with a wrong key or unkeyed (None)."""
    with engine.store.db.begin() as connection:
        rows = connection.execute(select(audit_log).order_by(audit_log.c.id)).all()
        previous = audit.GENESIS
        for row in rows:
            detail = row.detail.replace("p1@example.com", "mallory@example.com")
            fields = (previous, row.at, row.actor, row.action, detail)
            digest = audit._mac(key, *fields) if key else audit._digest(*fields)
            scheme = audit.KEYED if key else audit.LEGACY
            connection.execute(
                update(audit_log)
                .where(audit_log.c.id == row.id)
                .values(detail=detail, previous_hash=previous, hash=digest, scheme=scheme)
            )
            previous = digest


def test_a_chain_recomputed_with_a_wrong_key_is_found_even_without_a_checkpoint(audited, capsys):
    engine, url, checkpoint = audited
    _recompute(engine, b"the attacker's own key, long enough to pass")
    status, out = verify(url, capsys)
    assert status == 1
    assert "does not match its HMAC (changed, or the chain was recomputed" in out
    status, out = verify(url, capsys, "--checkpoint", str(checkpoint))
    assert status == 1 and "were removed or rewritten" in out


def test_a_chain_recomputed_as_unkeyed_legacy_entries_is_found(audited, capsys):
    engine, url, checkpoint = audited
    _recompute(engine, None)
    status, out = verify(url, capsys)
    assert status == 1 and "the log holds only unkeyed entries" in out
    assert verify(url, capsys, "--checkpoint", str(checkpoint))[0] == 1


def test_an_unkeyed_entry_after_keyed_ones_is_found(audited, capsys):
    engine, url, _ = audited
    with engine.store.db.begin() as connection:
        last = connection.execute(select(audit_log).order_by(audit_log.c.id.desc())).first()
        fields = (last.hash, last.at, "mallory", "user_created", "{}")
        connection.execute(
            audit_log.insert().values(
                at=last.at,
                actor="mallory",
                action="user_created",
                detail="{}",
                previous_hash=last.hash,
                hash=audit._digest(*fields),
                scheme=audit.LEGACY,
            )
        )
    status, out = verify(url, capsys)
    assert status == 1 and "an unkeyed entry after keyed ones" in out


def test_a_forged_checkpoint_is_refused(audited, capsys):
    _, url, checkpoint = audited
    document = json.loads(checkpoint.read_text())
    document["count"] = 2
    checkpoint.write_text(json.dumps(document))
    status, out = verify(url, capsys, "--checkpoint", str(checkpoint))
    assert status == 1 and "the checkpoint's HMAC does not match" in out


def test_without_the_key_the_keyed_entries_cannot_be_checked(
    audited, capsys, monkeypatch, tmp_path
):
    _, url, _ = audited
    monkeypatch.setenv("BILLING_AUDIT_KEY_FILE", str(tmp_path / "elsewhere.key"))
    status, out = verify(url, capsys)
    assert status == 1 and "there is no audit key at" in out
    assert not (tmp_path / "elsewhere.key").exists()  # verify never makes a key


def test_legacy_entries_before_the_key_are_reported_as_such(audited, capsys):
    engine, url, _ = audited
    with engine.store.db.begin() as connection:  # as if the first two were written before 0007
        rows = connection.execute(select(audit_log).order_by(audit_log.c.id)).all()
        previous = audit.GENESIS
        for row in rows[:2]:
            digest = audit._digest(previous, row.at, row.actor, row.action, row.detail)
            connection.execute(
                update(audit_log)
                .where(audit_log.c.id == row.id)
                .values(previous_hash=previous, hash=digest, scheme=audit.LEGACY)
            )
            previous = digest
        key = audit.audit_key(connection)
        for row in rows[2:]:
            digest = audit._mac(key, previous, row.at, row.actor, row.action, row.detail)
            connection.execute(
                update(audit_log)
                .where(audit_log.c.id == row.id)
                .values(previous_hash=previous, hash=digest)
            )
            previous = digest
    status, out = verify(url, capsys)
    assert status == 0
    assert out.startswith(
        "OK: 4 entries chained (2 unkeyed legacy entries from before the audit key); "
        "no checkpoint given"
    )


def test_the_audit_key_may_come_from_the_environment(engine, monkeypatch, capsys, cheap_hash):
    monkeypatch.setenv("BILLING_AUDIT_KEY", "k" * 40)
    with engine.store.db.begin() as connection:
        create_person(connection, "p@example.com", "viewer", PASSWORD)
    assert verify(engine.store.url, capsys)[0] == 0
    monkeypatch.setenv("BILLING_AUDIT_KEY", "j" * 40)
    assert verify(engine.store.url, capsys)[0] == 1
    monkeypatch.setenv("BILLING_AUDIT_KEY", "short")
    status, out = verify(engine.store.url, capsys)
    assert status == 1 and "an audit key has at least 32" in out
