import base64
import re

import numpy as np

from panokit.curation.report import HtmlReport, shift_report, stats_report
from panokit.curation.shift import domain_shift
from panokit.curation.stats import compute_stats
from tests.curation._data import label_a, label_b, memory_dataset


def embedded_pngs(page):
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


def test_html_report_escapes_and_embeds(tmp_path):
    report = HtmlReport("a <b> report")
    report.paragraph("1 < 2")
    report.table(["x", "y"], [("swatch", (1, 2, 3)), (0.5, "z")][1:])
    page = report.render()
    assert "<title>a &lt;b&gt; report</title>" in page and "<p>1 &lt; 2</p>" in page
    assert '<td class="n">0.5</td><td>z</td>' in page
    big = HtmlReport("sizes")
    big.table(["median size"], [(21250.3,), (234.8,)])
    assert '<td class="n">21250</td>' in big.render() and '<td class="n">234.8</td>' in big.render()
    out = report.write(tmp_path / "r.html")
    assert out.read_text() == page


def test_stats_report_is_self_contained_with_plots():
    stats = compute_stats(memory_dataset([label_a(), label_b()]))
    page = stats_report(stats).render()
    pngs = embedded_pngs(page)
    # shares + frequency for things and stuff, instance sizes, co-occurrence
    assert len(pngs) == 6 and all(p.startswith(b"\x89PNG\r\n\x1a\n") for p in pngs)
    assert "<h2>Things</h2>" in page and "<h2>Stuff</h2>" in page
    assert "<td>person</td>" in page and "http" not in page.replace("http-equiv", "")


def test_shift_report_lists_the_ranking():
    dark = np.zeros((8, 8, 3), np.uint8)
    rep = domain_shift(
        memory_dataset([label_a()], media=[dark]), memory_dataset([label_b()], media=[dark + 50])
    )
    page = shift_report(rep).render()
    assert "<h2>What differs most</h2>" in page
    assert "<td>missing</td><td>sky</td>" in page
    assert len(embedded_pngs(page)) >= 3


def test_stats_report_lists_absent_categories_once_not_as_rows():
    page = stats_report(compute_stats(memory_dataset([label_b()]))).render()
    assert "<p>1 of 2 stuff categories never occur: sky.</p>" in page
    assert "<td>sky</td>" not in page and "<td>road</td>" in page
    # road is 80 of 100 labeled pixels, in the one sample
    assert "<td>80.00%</td><td>100.0%</td>" in page


def test_shift_report_of_identical_labels_lists_no_zero_rows():
    dark = np.zeros((8, 8, 3), np.uint8)
    rep = domain_shift(
        memory_dataset([label_a()], media=[dark]), memory_dataset([label_a()], media=[dark + 50])
    )
    page = shift_report(rep).render()
    # only the image statistics differ; the equal shares and sizes are summed up in one line
    assert "<td>share</td>" not in page and "<td>image</td><td>brightness</td>" in page
    assert re.search(r"<p>Nothing else differs: \d+ compared item\(s\) score 0\.</p>", page)
    assert "share ratios" not in page  # no log-ratio plot when every ratio is 1
