"""axe-core's WCAG 2.1 A/AA rules (and its best practices) run on a page as it is."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.support.localserver import PROJECT_ROOT

# The axe-core that @axe-core/playwright (pinned in frontend/package.json) brings.
AXE = PROJECT_ROOT / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.1 A/AA, and axe's best practices (a main landmark, all content in landmarks).
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
DESKTOP, PHONE = {"width": 1100, "height": 760}, {"width": 390, "height": 800}


def axe_violations(page: Page) -> list[dict]:
    """axe-core's findings on the page as it is (WCAG 2.1 A/AA and axe's best practices)."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async (tags) => {"
        " const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});"
        " return {passes: r.passes.length, violations: r.violations.map(v => ({id: v.id,"
        " impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))}; }",
        WCAG_21_AA,
    )
    assert result["passes"] >= 10, result  # the rules ran on a real page
    return result["violations"]
