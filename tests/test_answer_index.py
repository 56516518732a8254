"""The answer index's lifecycle and determinism: built once per content version outside the
request path, written atomically, swapped in when ready; same content, same answers, whatever
the process has built before."""
import json
import subprocess
import sys
import threading

import jieba
import numpy as np
import pytest

from bot.answering.bulk import lexicon_of
from bot.answering.engine import Engine, _Training, load_offtopic, load_terms
from bot.answering.index import IndexStore, default_index_dir
from bot.answering.service import AnswerService, IndexBuilder
from bot.answering.text import Normalizer, Segmenter
from bot.config import PROJECT_ROOT
from bot.content.model import load_content
from bot.storage.db import connect
from bot.storage.library import PublishedContent, bump_content_version, init_db
from click.testing import CliRunner

from bot.cli import main
from conftest import TEST_AES_KEY, TEST_APP_ID, TEST_TOKEN, small_content_dir
from tests.wechat_client import WeChatSender, reply_content, text_xml

QUESTIONS = [
    "有人打电话说我是公安局的，说我涉嫌洗钱，要我把钱转到安全账户",
    "网上兼职刷单，先垫付三百块再返佣金，靠谱吗",
    "客服说我的快递丢了要理赔，让我下载一个APP共享屏幕",
    "我儿子说换了新号码，让我先转两万块给他老师",
    "收到短信说我的ETC认证失效了，点链接重新认证 http://etc-xx.cc",
    "在交友软件上认识一个人，他带我在一个平台买虚拟币，现在提不了现",
    "有个人话佢系部队后勤嘅 要订我哋啲水果 仲发咗张军官证相",
    "我刚刚给对方转了五千块钱，发现被骗了怎么办",
    "今天天气怎么样",
    "派出所几点上班",
    "孩子玩游戏充了两千块钱 怎么退",
    "老板视频通话让我转账给供应商",
]
NEW_QUESTION = "有人让我用蓝鲸币给火星基地捐款"
NEW_CASE = "invest-martian-coin"


@pytest.fixture(scope="module")
def bank(content_dir):
    content = load_content(content_dir)
    engine_dir = content_dir / "engine"
    # A tenth of the bank keeps these builds quick; what they check does not depend on size.
    return (content.articles[::10], load_offtopic(engine_dir), load_terms(engine_dir / "terms.txt"),
            Normalizer.from_file(engine_dir / "normalize.tsv"))


def answers_of(engine: Engine) -> list[tuple]:
    return [(m.category, m.urgent, m.urgent_kind, m.case_ids, m.score, m.ranking)
            for m in (engine._match_uncached(engine.normalize(q)) for q in QUESTIONS)]


def with_keywords(articles, extra):
    """The same bank, one article carrying more keywords (a publish that grows the dictionary)."""
    first = articles[0]
    changed = type(first)(**{**first.__dict__, "keywords": first.keywords + tuple(extra)})
    return [changed] + articles[1:]


def martian_case(content_dir) -> str:
    source = next((content_dir / "cases").glob("invest-*.md")).read_text("utf-8")
    new = source.split("\n", 1)[1].replace("examples:\n", f"examples:\n  - {NEW_QUESTION}\n", 1)
    return "---\n" + "\n".join(f"id: {NEW_CASE}" if ln.startswith("id:") else ln
                               for ln in new.splitlines()) + "\n"


def publish_martian_case(db, content_dir) -> None:
    db["cases"].insert({"id": NEW_CASE, "category": "fake_investment", "title": "t",
                        "source": martian_case(content_dir), "status": "published",
                        "origin": "admin"})
    bump_content_version(db)


# -- determinism --------------------------------------------------------------------------------
def test_same_content_same_answers_after_many_other_builds(bank):
    articles, offtopic, terms, normalizer = bank
    first = Engine(articles, offtopic, normalizer, extra_terms=terms)
    before = answers_of(first)
    for i in range(3):   # other content versions, each with words of its own
        Engine(with_keywords(articles, [f"火星币{i}号", "安全账户", "刷单返利"]), offtopic,
               normalizer, extra_terms=terms)
        jieba.add_word("安全账户", freq=20000)   # even the global jieba moving does not matter
    again = Engine(articles, offtopic, normalizer, extra_terms=terms)
    assert answers_of(again) == before
    assert sorted(again.arrays) == sorted(first.arrays)
    for name, array in first.arrays.items():
        assert np.array_equal(again.arrays[name], array), name


def test_saved_and_mapped_index_answers_like_the_built_one(bank, tmp_path):
    articles, offtopic, terms, normalizer = bank
    built = Engine(articles, offtopic, normalizer, extra_terms=terms)
    built.save(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text("utf-8"))
    assert sorted(manifest["arrays"]) == sorted(built.arrays)
    loaded = Engine.load(tmp_path, normalizer)
    mapped = loaded.arrays["post_w"]
    assert not mapped.flags.owndata and isinstance(mapped.base, np.memmap)   # not a copy
    assert answers_of(loaded) == answers_of(built)
    assert loaded.articles == built.articles


LOADING_WORKER = r"""
import json, sys
from pathlib import Path
from bot.answering.engine import Engine
from bot.answering.text import Normalizer
content, index = Path(sys.argv[1]), Path(sys.argv[2])
engine = Engine.load(index, Normalizer.from_file(content / "engine" / "normalize.tsv"))
answers = [[m.category, m.urgent_kind, list(m.case_ids), m.score]
           for m in map(engine.match, json.loads(sys.argv[3]))]
print(json.dumps({"answers": answers,
                  "trainers": sorted({n.split(".")[0] for n in sys.modules} & {"sklearn", "scipy"})}))
"""


def test_a_worker_answers_from_the_saved_n_gram_models_without_scikit_learn(bank, content_dir,
                                                                            tmp_path):
    """The n-gram views are trained by the build and saved as arrays in the index: a worker
    that maps the index answers the same without importing scikit-learn (or retraining)."""
    articles, offtopic, terms, normalizer = bank
    built = Engine(articles, offtopic, normalizer, extra_terms=terms)
    assert any(name.startswith("ngram_") for name in built.arrays)
    built.save(tmp_path)
    done = subprocess.run([sys.executable, "-c", LOADING_WORKER, str(content_dir), str(tmp_path),
                           json.dumps(QUESTIONS, ensure_ascii=False)],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    worker = json.loads(done.stdout.strip().splitlines()[-1])
    assert worker["trainers"] == []
    assert worker["answers"] == [[m.category, m.urgent_kind, list(m.case_ids), m.score]
                                 for m in map(built.match, QUESTIONS)]


PROCESS_CHILD = r"""
import json, sys
from pathlib import Path
from bot.answering.engine import Engine, load_offtopic, load_terms
from bot.answering.text import Normalizer
from bot.content.model import load_content
content = Path(sys.argv[1])
articles = load_content(content).articles[::10]
off, terms = load_offtopic(content / "engine"), load_terms(content / "engine" / "terms.txt")
norm = Normalizer.from_file(content / "engine" / "normalize.tsv")
for i in range(int(sys.argv[2])):   # this process's own publish history
    first = articles[0]
    changed = type(first)(**{**first.__dict__, "keywords": first.keywords + (f"历史词{i}",)})
    Engine([changed] + articles[1:], off, norm, extra_terms=terms)
# One of the two tokenises in two forked processes, as a big build-index does.
engine = Engine(articles, off, norm, extra_terms=terms, processes=int(sys.argv[4]))
qs = json.loads(sys.argv[3])
print(json.dumps([[m.category, m.case_ids, m.score] for m in map(engine.match, qs)]))
"""


def test_two_processes_with_different_histories_answer_identically(content_dir):
    def run(history: int, processes: int):
        done = subprocess.run([sys.executable, "-c", PROCESS_CHILD, str(content_dir),
                               str(history), json.dumps(QUESTIONS, ensure_ascii=False),
                               str(processes)],
                              cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    assert run(0, 1) == run(2, 2)


BUILD_INTO_CHILD = r"""
import sys
from pathlib import Path
from bot.answering.engine import Engine, load_offtopic, load_terms
from bot.answering.text import Normalizer
from bot.content.model import load_content
content, out = Path(sys.argv[1]), Path(sys.argv[2])
articles = load_content(content).articles[::10]
off, terms = load_offtopic(content / "engine"), load_terms(content / "engine" / "terms.txt")
norm = Normalizer.from_file(content / "engine" / "normalize.tsv")
# Single-threaded, as build-index: the models train in a fresh process that writes its arrays
# into the directory, two forked processes tokenise.
engine = Engine(articles, off, norm, extra_terms=terms, processes=2, out_dir=out)
engine.save(out)
"""


def files_of(path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(path.iterdir())}


def test_an_index_built_into_its_directory_is_the_one_built_in_memory(bank, content_dir,
                                                                       tmp_path):
    """A builder writes the arrays into the index directory as it finishes them (blocks,
    the training process's own files): byte for byte the files of an index built in memory
    and saved, and the engine, mapped from those files, answers the same."""
    articles, offtopic, terms, normalizer = bank
    in_memory = Engine(articles, offtopic, normalizer, extra_terms=terms)
    (tmp_path / "memory").mkdir()
    in_memory.save(tmp_path / "memory")
    (tmp_path / "direct").mkdir()
    direct = Engine(articles, offtopic, normalizer, extra_terms=terms,
                    out_dir=tmp_path / "direct")
    direct.save(tmp_path / "direct")
    assert files_of(tmp_path / "direct") == files_of(tmp_path / "memory")
    assert all(not a.flags.writeable for a in direct.arrays.values())   # mapped, not copies
    assert answers_of(direct) == answers_of(in_memory)
    (tmp_path / "processes").mkdir()
    done = subprocess.run([sys.executable, "-c", BUILD_INTO_CHILD, str(content_dir),
                           str(tmp_path / "processes")],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert files_of(tmp_path / "processes") == files_of(tmp_path / "memory")


def test_a_build_that_fails_half_way_leaves_no_index(bank, tmp_path):
    """The build writes into a temporary directory: when it fails after some arrays are
    written, nothing is left that a worker could load, and the next build succeeds."""
    articles, offtopic, terms, normalizer = bank
    store = IndexStore(tmp_path / "bot-index")

    def failing(directory):
        Engine(articles[:3], offtopic, normalizer, extra_terms=terms, out_dir=directory)
        assert list(directory.glob("*.npy"))   # arrays already written
        raise OSError("disk full")

    with pytest.raises(OSError):
        store.write("d1", failing)
    assert not store.has("d1") and list(store.root.iterdir()) == []
    engine = store.write("d1", lambda directory: Engine(articles[:3], offtopic, normalizer,
                                                        extra_terms=terms, out_dir=directory))
    assert store.has("d1") and answers_of(engine) == answers_of(store.load("d1", normalizer))


def test_a_training_process_that_has_ended_fails_the_build_with_its_exit_code(bank):
    """The builder hands the training process its sample through a file and a line on its
    stdin: a process that has died (killed here) is reported as such, not as a broken pipe."""
    articles, offtopic, terms, normalizer = bank
    segmenter = Segmenter(terms)
    training = _Training(articles[:3], offtopic, normalizer, None, segmenter)
    training.start()
    training._process.kill()
    training._process.wait()
    with pytest.raises(RuntimeError, match=r"the process ended \(exit -9\)"):
        training.send_sample(lexicon_of(segmenter))
    training.abandon()


# -- lifecycle ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_dir():
    """The small bank (conftest.small_content_dir: every case, a few lines each): the lifecycle
    tests publish and build again, and what they check does not depend on the bank's size."""
    return small_content_dir()


@pytest.fixture
def db(tmp_path, small_dir):
    db = connect(tmp_path / "bot.db")
    init_db(db, small_dir)
    return db


def service_on(db, tmp_path, content_dir) -> AnswerService:
    return AnswerService(PublishedContent(lambda: db, content_dir), content_dir,
                         "https://x.test", 2000, index_dir=tmp_path / "bot-index")


def test_old_answers_until_the_new_index_is_built_then_new(db, tmp_path, small_dir):
    svc = service_on(db, tmp_path, small_dir)
    store = svc.builder.store
    old = store.current()
    assert old is not None and old.content_version == svc.content_version
    assert NEW_CASE not in svc.ask(NEW_QUESTION)["case_ids"]
    publish_martian_case(db, small_dir)
    with store.build_lock():   # a build elsewhere is under way: the worker must not wait
        answer = svc.ask(NEW_QUESTION)
        assert NEW_CASE not in answer["case_ids"] and svc.content_version == old.content_version
        assert store.current() == old
    assert svc.wait_until_current(timeout=60)
    assert svc.ask(NEW_QUESTION)["case_ids"][0] == NEW_CASE
    new = store.current()
    assert new.content_version == old.content_version + 1 and new.digest != old.digest


def test_a_second_worker_maps_the_index_instead_of_building(db, tmp_path, small_dir):
    first = service_on(db, tmp_path, small_dir)
    publish_martian_case(db, small_dir)
    IndexBuilder(PublishedContent(lambda: db, small_dir), small_dir,
                 first.builder.store).build()                    # the scheduler / build-index
    pointer = first.builder.store.current()
    second = service_on(db, tmp_path, small_dir)
    assert second.content_version == pointer.content_version
    assert second.ask(NEW_QUESTION)["case_ids"][0] == NEW_CASE
    assert first.wait_until_current(timeout=60)
    assert first.ask(NEW_QUESTION)["case_ids"][0] == NEW_CASE


def test_index_is_written_whole_or_not_at_all(db, tmp_path, small_dir):
    svc = service_on(db, tmp_path, small_dir)
    store = svc.builder.store
    pointer = store.current()
    assert not [p for p in store.root.iterdir() if p.name.startswith(".")]
    # A crash half-way through a write leaves no manifest: that index does not count and is
    # written again, and a pointer to it is no pointer.
    (store.root / pointer.digest / "manifest.json").unlink()
    assert store.current() is None
    bump_content_version(db)
    rebuilt = IndexBuilder(PublishedContent(lambda: db, small_dir), small_dir, store).build()
    assert rebuilt.digest == pointer.digest and store.current() == rebuilt
    assert (store.root / pointer.digest / "manifest.json").is_file()


def test_an_index_of_another_format_is_rebuilt(db, tmp_path, small_dir):
    svc = service_on(db, tmp_path, small_dir)
    store = svc.builder.store
    pointer = store.current()
    data = json.loads(store.pointer_path.read_text())
    store.pointer_path.write_text(json.dumps({**data, "schema": "1:old"}))
    assert store.current() is None
    again = service_on(db, tmp_path, small_dir)
    assert store.current() == pointer and again.content_version == pointer.content_version


def test_no_request_builds_the_index(app, client, settings, content_dir):
    """A webhook request right after a publish answers from the index it has, at once, while
    the build lock is held elsewhere (a request that built or waited would hang here)."""
    answers = app.extensions["answers"]
    store = IndexStore(default_index_dir(settings.database.path))
    assert answers.builder.store.root == store.root
    publish_martian_case(app.extensions["db"](), content_dir)
    replies = []
    with store.build_lock():
        sender = WeChatSender(client, TEST_TOKEN, TEST_AES_KEY, TEST_APP_ID)
        asker = threading.Thread(target=lambda: replies.append(sender.post(text_xml(NEW_QUESTION))))
        asker.start()
        asker.join(timeout=20)
        assert not asker.is_alive() and replies[0][0].status_code == 200
        assert NEW_CASE not in answers.ask(NEW_QUESTION)["case_ids"]
    assert answers.wait_until_current(timeout=60)
    assert answers.ask(NEW_QUESTION)["case_ids"][0] == NEW_CASE


def test_build_index_command(tmp_path, content_dir):
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\npath = "{tmp_path / "bot.db"}"\n'
                      f'[content]\ndir = "{content_dir}"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "build-index"])
    assert result.exit_code == 0, result.output
    pointer = IndexStore(default_index_dir(tmp_path / "bot.db")).current()
    assert pointer is not None and pointer.digest in result.output


def test_the_scheduler_builds_the_index_when_the_version_moves(tmp_path, content_dir):
    import scheduler
    from bot.config import settings_from_mapping
    from bot.storage.db import make_db_factory
    from bot.storage.library import content_version

    settings = settings_from_mapping({"database": {"path": str(tmp_path / "bot.db")},
                                      "content": {"dir": str(content_dir)}},
                                     base_dir=tmp_path, source="tests")
    factory = make_db_factory(settings.database.path)
    init_db(factory(), content_dir)
    builder = scheduler.index_builder(settings, factory)
    first = builder.build()
    assert first.content_version == content_version(factory())
    assert builder.store.root == default_index_dir(settings.database.path)
    bump_content_version(factory())       # a publish that changed nothing the index holds
    second = builder.build()
    assert second.content_version == first.content_version + 1
    assert second.digest == first.digest  # pointed at again, not rebuilt
    publish_martian_case(factory(), content_dir)
    third = builder.build()
    assert third.digest != first.digest and builder.store.current() == third
