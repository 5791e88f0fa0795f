"""Whether the Prefect API a run reports to is configured and up.

:func:`require_reachable_api` — when ``PREFECT_API_URL`` is set (environment
or Prefect profile), check ``<url>/health`` once, quickly (no retries), before
any work, and raise :class:`PrefectAPIUnreachable`: one line naming the URL,
the cause and what to do.
"""

from __future__ import annotations

import ipaddress
import os
import sys

CHECK_TIMEOUT_SECONDS = 5.0


class PrefectAPIUnreachable(RuntimeError):
    """The configured Prefect API did not answer its health check (a runtime failure: exit 1)."""


def configured_api_url() -> str | None:
    """``PREFECT_API_URL`` as Prefect resolves it (environment, then the active profile), or None."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url).rstrip("/") if url else None


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost': addresses no other machine can reach."""
    host = host.strip().lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_reachable_api(url: str | None = None, *, timeout: float = CHECK_TIMEOUT_SECONDS) -> str | None:
    """Check that the Prefect API answers ``GET <url>/health``; return the URL checked.

    Takes milliseconds: with ``PREFECT_API_URL`` in the environment and Prefect not yet
    imported, the URL is read from there (environment variables win over Prefect profiles)
    without importing Prefect (~1 s); see :func:`health_problem` for the check itself.

    Parameters
    ----------
    url
        The API URL (``http://127.0.0.1:4200/api``); default: the configured
        ``PREFECT_API_URL``.  When neither is set, Prefect runs flows against a
        temporary local API and there is nothing to check: returns None.
    timeout
        Seconds for the connection and the answer (no retries).

    Raises
    ------
    PrefectAPIUnreachable
        One line naming the URL and the cause, e.g.
        ``Prefect API at http://127.0.0.1:9/api is unreachable (connection refused) ...``.
    """
    if url is None and "prefect.settings" not in sys.modules and os.environ.get("PREFECT_API_URL", "").strip():
        url = os.environ["PREFECT_API_URL"].strip()
    target = (url or configured_api_url() or "").rstrip("/")
    if not target:
        return None
    hint = "start it with `convsweep server` or unset PREFECT_API_URL"
    problem = health_problem(target, timeout=timeout)
    if problem is None:
        return target
    if problem.startswith("HTTP "):
        raise PrefectAPIUnreachable(
            f"Prefect API at {target} answered {problem} to /health; "
            "check PREFECT_API_URL (it ends in /api for a local server)"
        )
    if problem.startswith("not a usable URL"):
        raise PrefectAPIUnreachable(f"PREFECT_API_URL={target!r} is {problem}")
    raise PrefectAPIUnreachable(f"Prefect API at {target} is unreachable ({problem}); {hint}")


def health_problem(url: str, *, timeout: float = CHECK_TIMEOUT_SECONDS) -> str | None:
    """None when ``GET <url>/health`` answers 200 within ``timeout`` s, else why not, in a few words.

    E.g. ``connection refused``, ``no answer within 5 s``, ``HTTP 404``,
    ``not a usable URL (...)``.  One attempt, no retries.  A plain ``http://`` URL is
    checked with the standard library (``/health`` needs no credentials on a Prefect
    server, and importing httpx and Prefect costs about a second); an ``https://`` URL
    with httpx and Prefect's TLS and credential settings.
    """
    target = url.rstrip("/")
    if target.lower().startswith("http://"):
        return _plain_http_problem(target, timeout)
    return _httpx_problem(target, timeout)


def _plain_http_problem(target: str, timeout: float) -> str | None:
    import http.client
    import socket
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{target}/health", timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, ConnectionRefusedError):
            return "connection refused"
        if isinstance(reason, (TimeoutError, socket.timeout)):
            return f"no answer within {timeout:g} s"
        return f"cannot connect: {reason}"
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except (http.client.HTTPException, OSError) as error:
        return f"{type(error).__name__}: {error}"
    except ValueError as error:  # a malformed URL
        return f"not a usable URL ({error})"
    return None if status == 200 else f"HTTP {status}"


def _auth_headers() -> dict[str, str]:
    from prefect.settings import get_current_settings

    api = get_current_settings().api
    if api.key is not None:
        return {"Authorization": f"Bearer {api.key.get_secret_value()}"}
    if api.auth_string is not None:
        import base64

        token = base64.b64encode(api.auth_string.get_secret_value().encode()).decode()
        return {"Authorization": f"Basic {token}"}
    return {}


def _httpx_problem(target: str, timeout: float) -> str | None:
    import httpx
    from prefect.settings import get_current_settings

    try:
        response = httpx.get(
            f"{target}/health",
            headers=_auth_headers(),
            timeout=timeout,
            verify=not get_current_settings().api.tls_insecure_skip_verify,
            follow_redirects=True,
        )
    except httpx.ConnectError as error:
        return "connection refused" if "refused" in str(error).lower() else f"cannot connect: {error}"
    except httpx.TimeoutException:
        return f"no answer within {timeout:g} s"
    except httpx.HTTPError as error:
        return f"{type(error).__name__}: {error}"
    except (httpx.InvalidURL, ValueError) as error:  # a malformed URL
        return f"not a usable URL ({error})"
    return None if response.status_code == 200 else f"HTTP {response.status_code}"
