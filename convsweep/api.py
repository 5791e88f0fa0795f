"""Whether the Prefect API a run reports to is configured and up.

:func:`require_reachable_api` — when ``PREFECT_API_URL`` is set (environment
or Prefect profile), check ``<url>/health`` once, quickly (no retries), before
any work, and raise :class:`PrefectAPIUnreachable`: one line naming the URL,
the cause and what to do.
"""

from __future__ import annotations


class PrefectAPIUnreachable(RuntimeError):
    """The configured Prefect API did not answer its health check (a runtime failure: exit 1)."""


def configured_api_url() -> str | None:
    """``PREFECT_API_URL`` as Prefect resolves it (environment, then the active profile), or None."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url).rstrip("/") if url else None


def require_reachable_api(url: str | None = None, *, timeout: float = 5.0) -> str | None:
    """Check that the Prefect API answers ``GET <url>/health``; return the URL checked.

    Takes milliseconds: with ``PREFECT_API_URL`` in the environment and Prefect not yet
    imported, the URL is read from there (environment variables win over Prefect profiles)
    without importing Prefect (~1 s); a plain ``http://`` URL is checked with the standard
    library (``/health`` needs no credentials on a Prefect server).  An ``https://`` URL is
    checked with httpx and Prefect's TLS and credential settings.

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
    import os
    import sys

    if url is None and "prefect.settings" not in sys.modules and os.environ.get("PREFECT_API_URL", "").strip():
        url = os.environ["PREFECT_API_URL"].strip()
    target = (url or configured_api_url() or "").rstrip("/")
    if not target:
        return None
    hint = "start it with `convsweep server` or unset PREFECT_API_URL"
    if target.lower().startswith("http://"):
        status = _plain_http_health(target, timeout, hint)
    else:
        status = _httpx_health(target, timeout, hint)
    if status != 200:
        raise PrefectAPIUnreachable(
            f"Prefect API at {target} answered HTTP {status} to /health; "
            "check PREFECT_API_URL (it ends in /api for a local server)"
        )
    return target


def _plain_http_health(target: str, timeout: float, hint: str) -> int:
    """HTTP status of ``GET <target>/health`` with urllib (redirects followed)."""
    import http.client
    import socket
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{target}/health", timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, ConnectionRefusedError):
            cause = "connection refused"
        elif isinstance(reason, (TimeoutError, socket.timeout)):
            cause = f"no answer within {timeout:g} s"
        else:
            cause = f"cannot connect: {reason}"
        raise PrefectAPIUnreachable(f"Prefect API at {target} is unreachable ({cause}); {hint}") from None
    except TimeoutError:
        raise PrefectAPIUnreachable(
            f"Prefect API at {target} is unreachable (no answer within {timeout:g} s); {hint}"
        ) from None
    except (http.client.HTTPException, OSError) as error:
        raise PrefectAPIUnreachable(
            f"Prefect API at {target} is unreachable ({type(error).__name__}: {error}); {hint}"
        ) from None
    except ValueError as error:  # a malformed URL
        raise PrefectAPIUnreachable(f"PREFECT_API_URL={target!r} is not a usable URL ({error})") from None


def _httpx_health(target: str, timeout: float, hint: str) -> int:
    """HTTP status of ``GET <target>/health`` with httpx and Prefect's TLS and credential settings."""
    import httpx
    from prefect.settings import get_current_settings

    api = get_current_settings().api
    headers = {}
    if api.key is not None:
        headers["Authorization"] = f"Bearer {api.key.get_secret_value()}"
    elif api.auth_string is not None:
        import base64

        token = base64.b64encode(api.auth_string.get_secret_value().encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    try:
        response = httpx.get(
            f"{target}/health",
            headers=headers,
            timeout=timeout,
            verify=not api.tls_insecure_skip_verify,
            follow_redirects=True,
        )
    except httpx.ConnectError as error:
        cause = "connection refused" if "refused" in str(error).lower() else f"cannot connect: {error}"
        raise PrefectAPIUnreachable(f"Prefect API at {target} is unreachable ({cause}); {hint}") from None
    except httpx.TimeoutException:
        raise PrefectAPIUnreachable(
            f"Prefect API at {target} is unreachable (no answer within {timeout:g} s); {hint}"
        ) from None
    except httpx.HTTPError as error:
        raise PrefectAPIUnreachable(
            f"Prefect API at {target} is unreachable ({type(error).__name__}: {error}); {hint}"
        ) from None
    except (httpx.InvalidURL, ValueError) as error:  # a malformed URL
        raise PrefectAPIUnreachable(f"PREFECT_API_URL={target!r} is not a usable URL ({error})") from None
    return response.status_code
