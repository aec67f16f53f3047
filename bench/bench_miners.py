"""Miners on large generated dumps: pairs/s and peak RSS, at two input sizes, side by side with an in-memory peer.

    python bench/bench_miners.py                 # 200k StackExchange posts (Reddit, Wikipedia and NLI pair
                                                 # on Ray Data: bench/bench_reddit_join.py)
    python bench/bench_miners.py --scale 0.1     # a quick run
    python bench/bench_miners.py --only formats  # only the compressed-format comparison (.7z, .bz2, .xz vs plain)

Each measurement runs in a fresh child process (so peak RSS is its own): it imports the miners, notes its RSS, mines
the whole dump, and reports pairs, seconds, peak RSS (VmHWM) and the growth of RSS over the post-import RSS;
speed is input records (posts, comments, pages) per second, since bounded indexes can give fewer pairs.
"Memory stays flat" means the growth does not rise with the input size. The peers are what a straightforward script
does: StackExchange with `ET.parse` of the whole Posts.xml and dicts of questions and answers.

The dumps are generated (seeded) in the upstream formats: Posts.xml/PostLinks.xml rows with HTML bodies, Pushshift
comment JSON lines in a long-window .zst.

Formats (`--only formats`): the same site read from its extracted Posts.xml and from the site's .7z archive (streamed
by py7zr, not extracted), and the same comment month as plain JSON lines, .zst, .bz2 (the pre-2018 Pushshift files)
and .xz: time and peak RSS of each, the plain file being the peer.
"""

from __future__ import annotations

import argparse
import bz2
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from xml.sax.saxutils import quoteattr

WORDS = (
    "the of and to in is that for it as with was on be by this are or from at an have not which but can all one "
    "file system error python code server network data using value function user page memory disk linux install "
    "package version update window button screen mouse power battery cable port kernel driver module process"
).split()


def sentence(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


def generate_stackexchange(folder: Path, posts: int, seed: int = 0) -> Path:
    """A site dump of about `posts` posts: questions each followed by 0-3 answers, 1 duplicate link per 40."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    post_id = 0
    questions: list[int] = []
    with open(folder / "Posts.xml", "w") as fh:
        fh.write('<?xml version="1.0" encoding="utf-8"?>\n<posts>\n')
        while post_id < posts:
            post_id += 1
            question_id, answers = post_id, rng.randint(0, 3)
            accepted = question_id + rng.randint(1, answers) if answers and rng.random() < 0.5 else None
            body = f"<p>{sentence(rng, 30, 120)}</p><pre><code>{sentence(rng, 3, 10)}</code></pre>"
            attrs = {"Id": question_id, "PostTypeId": 1, "Score": rng.randint(-2, 40), "Body": body}
            attrs |= {"Title": sentence(rng, 4, 12).capitalize() + "?", "Tags": "<linux>", "AnswerCount": answers}
            if accepted:
                attrs["AcceptedAnswerId"] = accepted
            fh.write("  <row " + " ".join(f"{k}={quoteattr(str(v))}" for k, v in attrs.items()) + " />\n")
            questions.append(question_id)
            for _ in range(answers):
                post_id += 1
                body = f"<p>{sentence(rng, 20, 90)}</p>"
                attrs = {"Id": post_id, "PostTypeId": 2, "ParentId": question_id, "Score": rng.randint(-1, 30)}
                attrs["Body"] = body
                fh.write("  <row " + " ".join(f"{k}={quoteattr(str(v))}" for k, v in attrs.items()) + " />\n")
        fh.write("</posts>\n")
    with open(folder / "PostLinks.xml", "w") as fh:
        fh.write('<?xml version="1.0" encoding="utf-8"?>\n<postlinks>\n')
        for link in range(len(questions) // 40):
            a, b = rng.sample(questions, 2)
            fh.write(f'  <row Id="{link + 1}" PostId="{a}" RelatedPostId="{b}" LinkTypeId="{rng.choice((1, 3))}" />\n')
        fh.write("</postlinks>\n")
    return folder


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


def generate_reddit(path: Path, comments: int, seed: int = 0, start: int = 0) -> Path:
    """A monthly comment dump: 30% top-level comments, 62% replies to one of the last 2,000 comments, 8% replies to
    any earlier comment (old threads, which a bounded index may have evicted). `start`: comments of the months
    before this one (their ids come first; old replies may answer them)."""
    import zstandard

    rng = random.Random(seed)
    first = 36**5
    # A 16 MiB window: the decoder holds up to one window of history (2 GiB for the real --long=31 dumps), a fixed
    # cost of the format that would hide the miner's own memory in this comparison.
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=24, enable_ldm=True)
    with open(path, "wb") as raw, zstandard.ZstdCompressor(compression_params=params).stream_writer(raw) as out:
        for i in range(start, start + comments):
            draw = rng.random()
            if draw < 0.30 or i == 0:
                parent = "t3_" + _base36(first // 7 + i // 50)
            elif draw < 0.92:
                parent = "t1_" + _base36(first + max(0, i - rng.randint(1, 2000)))
            else:
                parent = "t1_" + _base36(first + rng.randrange(i))
            body = "[deleted]" if rng.random() < 0.03 else sentence(rng, 3, 60)
            author = "AutoModerator" if rng.random() < 0.01 else f"user{rng.randrange(50_000)}"
            record = {"author": author, "body": body, "created_utc": 1420070400 + i, "id": _base36(first + i)}
            record |= {"link_id": "t3_x", "parent_id": parent, "score": rng.randint(-3, 50), "subreddit": "AskReddit"}
            out.write((json.dumps(record) + "\n").encode())
    return path


def naive_stackexchange(posts_path: Path) -> int:
    """The in-memory peer: parse the whole tree, keep every question and answer in dicts, pick the best answer."""
    import xml.etree.ElementTree as ET

    from datasets_builders.miners.text import html_to_text

    questions, answers = {}, {}
    for row in ET.parse(posts_path).getroot():
        if row.get("PostTypeId") == "1" and int(row.get("Score")) >= 0:
            questions[row.get("Id")] = (row.get("Title"), html_to_text(row.get("Body")), row.get("AcceptedAnswerId"))
        elif row.get("PostTypeId") == "2" and int(row.get("Score")) >= 1:
            answers.setdefault(row.get("ParentId"), []).append((int(row.get("Score")), row.get("Id"), row.get("Body")))
    pairs = 0
    for question_id, (_title, _body, accepted) in questions.items():
        candidates = answers.get(question_id)
        if candidates:
            chosen = next((a for a in candidates if a[1] == accepted), None) or max(candidates)
            html_to_text(chosen[2])
            pairs += 1
    return pairs


def _peak_rss() -> int:
    """This process's own peak RSS in bytes: VmHWM belongs to its memory map, new at exec, whereas ru_maxrss keeps
    the parent's high-water mark across fork + exec (a parent that generated big dumps would inflate every child)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(case: str, path: str) -> None:
    """Mine one dump in this process and print {pairs, seconds, peak_rss_mb, rss_growth_mb} as JSON."""
    import psutil

    from datasets_builders import mine_reddit, mine_stackexchange
    from datasets_builders.miners import MiningStats

    start_rss = psutil.Process().memory_info().rss
    start = time.perf_counter()
    stats = MiningStats(on_error="skip")
    if case in ("stackexchange", "se_xml", "se_7z"):
        pairs = sum(1 for _ in mine_stackexchange(path, "title_answer", stats=stats))
    elif case.startswith("reddit_"):  # reddit_plain, reddit_zst, reddit_bz2, reddit_xz (on Ray Data)
        pairs = sum(1 for _ in mine_reddit(path, stats=stats))
    else:
        pairs = naive_stackexchange(Path(path) / "Posts.xml")
    seconds = time.perf_counter() - start
    peak = _peak_rss()
    report = {"pairs": pairs, "seconds": seconds, "peak_rss_mb": peak / 2**20}
    report["not_formed_by_bounds"] = dict(stats.bounded)
    report["rss_growth_mb"] = (peak - start_rss) / 2**20
    print(json.dumps(report))


def generate_formats(root: Path, posts: int, comments: int) -> dict[str, Path]:
    """One Stack Exchange site as extracted XML and as its .7z archive; one comment month in four compressions."""
    import lzma

    import py7zr
    import zstandard

    site = generate_stackexchange(root / "formats_site" / "site.stackexchange.com", posts)
    archive = root / "formats_7z" / "site.stackexchange.com.7z"
    archive.parent.mkdir(parents=True)
    with py7zr.SevenZipFile(archive, "w") as seven:  # LZMA2, as archive.org's archives
        for name in ("Posts.xml", "PostLinks.xml"):
            seven.write(site / name, name)
    plain = root / "formats_rc" / "RC_2015-01"
    plain.parent.mkdir(parents=True)
    generate_reddit(root / "formats_rc.zst", comments)
    with open(root / "formats_rc.zst", "rb") as fh:
        plain.write_bytes(zstandard.ZstdDecompressor(max_window_size=2**31).stream_reader(fh).read())
    data = plain.read_bytes()
    paths = {"se_xml": site, "se_7z": archive, "reddit_plain": plain}
    for kind, compress in (("zst", None), ("bz2", bz2.compress), ("xz", lzma.compress)):
        target = root / f"formats_{kind}" / f"RC_2015-01.{kind}"
        target.parent.mkdir(parents=True)
        if compress is None:
            (root / "formats_rc.zst").rename(target)
        else:
            target.write_bytes(compress(data))
        paths[f"reddit_{kind}"] = target
    return paths


def run_formats(root: Path, scale: float) -> None:
    posts, comments = int(50_000 * scale), int(250_000 * scale)
    paths = generate_formats(root, posts, comments)
    print("\n| input | format | size MiB | pairs | seconds | ratio to plain | peak RSS (growth) MiB |")
    print("|---|---|---|---|---|---|---|")
    for group, peer, cases in (
        (f"{posts:,} posts", "se_xml", ("se_xml", "se_7z")),
        (f"{comments:,} comments", "reddit_plain", ("reddit_plain", "reddit_zst", "reddit_bz2", "reddit_xz")),
    ):
        results = {case: measure(case, paths[case]) for case in cases}
        for case in cases:
            path = paths[case]
            size = sum(f.stat().st_size for f in path.rglob("*.xml")) if path.is_dir() else path.stat().st_size
            ours = results[case]
            print(
                f"| {group} | {case.split('_', 1)[1]} | {size / 2**20:,.1f} | {ours['pairs']:,} | "
                f"{ours['seconds']:.1f} | {ours['seconds'] / results[peer]['seconds']:.2f}x | "
                f"{ours['peak_rss_mb']:,.0f} ({ours['rss_growth_mb']:,.0f}) |",
                flush=True,
            )


def measure(case: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", case, str(path)], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every dump size (default 1.0)")
    parser.add_argument("--work-dir", type=Path, help="where to write the generated dumps (default: a temp folder)")
    parser.add_argument("--only", choices=("miners", "formats"), help="run one part (default: both)")
    parser.add_argument("--child", nargs=2, metavar=("CASE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    if args.only != "miners":
        with tempfile.TemporaryDirectory(dir=args.work_dir) as tmp:
            run_formats(Path(tmp), args.scale)
        if args.only == "formats":
            return None
    sizes = {
        "stackexchange": [int(50_000 * args.scale), int(200_000 * args.scale)],
    }
    generators = {
        "stackexchange": lambda root, n: generate_stackexchange(root / f"se_{n}", n),
    }
    units = {"stackexchange": "posts"}  # Reddit: bench/bench_reddit_join.py
    with tempfile.TemporaryDirectory(dir=args.work_dir) as tmp:
        rows = []
        for case, case_sizes in sizes.items():
            for size in case_sizes:
                path = generators[case](Path(tmp), size)
                ours, peer = measure(case, path), measure(f"{case}_peer", path)
                rows.append((case, size, units[case], ours, peer))
                print(f"{case} {size:,}: ours {ours} peer {peer}", file=sys.stderr, flush=True)
    print("| miner | input | ours: pairs | peer: pairs | ours: input/s | peer: input/s | speed ratio "
          "| ours: peak RSS (growth) MiB | peer: peak RSS (growth) MiB | growth ratio peer/ours |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for case, size, unit, ours, peer in rows:
        speed = size / ours["seconds"], size / peer["seconds"]
        growth = ours["rss_growth_mb"], peer["rss_growth_mb"]
        print(
            f"| {case} | {size:,} {unit} | {ours['pairs']:,} | {peer['pairs']:,} | {speed[0]:,.0f} "
            f"| {speed[1]:,.0f} | {speed[0] / speed[1]:.2f}x | {ours['peak_rss_mb']:,.0f} ({growth[0]:,.0f}) "
            f"| {peer['peak_rss_mb']:,.0f} ({growth[1]:,.0f}) | {growth[1] / max(growth[0], 1):.1f}x |"
        )


if __name__ == "__main__":
    main()
