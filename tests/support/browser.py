"""Browser steps several tests share."""
from __future__ import annotations


def sign_in(page, url: str, user: str) -> None:
    """Sign in as ``user`` (password ``<user>-pw``, as the tests' password-mode apps are set up) and wait
    until the page knows who signed in: the Annotate tab's load event has answered."""
    page.goto(url + "/?__theme=light")
    page.locator("input[name=username], input[type=text]").first.fill(user)
    page.locator("input[type=password]").first.fill(f"{user}-pw")
    page.get_by_role("button", name="Login").click()
    page.get_by_role("tab", name="Annotate").click()
    page.wait_for_function("() => (document.querySelector('#annotate-whoami textarea')||{}).value?.includes('(')")
