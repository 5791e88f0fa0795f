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
    import httpx
    from prefect.settings import get_current_settings

    target = (url or configured_api_url() or "").rstrip("/")
    if not target:
        return None
    api = get_current_settings().api
    headers = {}
    if api.key is not None:
        headers["Authorization"] = f"Bearer {api.key.get_secret_value()}"
    elif api.auth_string is not None:
        import base64

        token = base64.b64encode(api.auth_string.get_secret_value().encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    hint = "start it with `convsweep server` or unset PREFECT_API_URL"
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
    if response.status_code != 200:
        raise PrefectAPIUnreachable(
            f"Prefect API at {target} answered HTTP {response.status_code} to /health; "
            "check PREFECT_API_URL (it ends in /api for a local server)"
        )
    return target
