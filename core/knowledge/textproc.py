"""Tokens for Chinese and English retrieval.

Chinese has no spaces, so CJK runs are segmented with jieba (search mode) and also cut
into character bigrams, which catch words jieba splits differently in the query and the
document. Latin runs are lowercased, split into words and lightly stemmed ("jackets" ->
"jacket"). SKUs such as ``JK-3002`` stay whole so they match exactly.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Iterable

import jieba

jieba.setLogLevel(logging.WARNING)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


RUN = re.compile(r"[\u4e00-\u9fff]+|[a-z0-9]+(?:[-'.][a-z0-9]+)*")
EN_STOP = _words(
    """a an the and or but if of to in on at by for with from about as into is are was were be
    been being do does did have has had i me my we our you your he she it its they them their
    this that these those what which who whom how when where why can could would should will
    shall may might must not no yes please hi hello hey thanks thank there here any some much
    many more most very just also so than too get got want need like know tell let am s t
    i'm it's don't can't policy policies rule rules still really actually already maybe ever even
    something anything able possible okay ok different another other others else same"""
)
ZH_STOP = _words(
    """的 了 吗 呢 吧 啊 呀 哦 嗯 么 我 你 您 他 她 它 们 我们 你们 是 有 在 和 与 或 请问 请 一下 什么
    怎么 怎么样 怎样 如何 多少 可以 能 能不能 可不可以 这个 那个 这 那 就 都 也 还 要 想 会 个 件 一 下
    为 对 给 把 被 从 到 吗 啥 哪 哪些 哪个 谢谢 你好 您好 现在 还有 一个 没有 有没有 是不是 为什么 怎么办 谁 出 多少钱 多久 什么时候 几天 多长时间 一般 大概 请问一下 政策 规定"""
)
# Single characters that only glue a sentence together; a bigram containing one is noise.
ZH_GLUE = frozenset(
    "的了吗呢吧啊呀哦嗯么我你您他她它们是有在和与或请问一下个为对给把被从到啥哪这那就都也还想要以"
)
# Shop words jieba's general dictionary splits badly ("退货运费" -> "退 / 货运费").
DOMAIN_WORDS = _words(
    "退货 换货 退款 运费 运费险 包邮 发货 快递 物流 单号 快递单号 尺码 鞋码 发票 优惠券 积分 保修 开胶 "
    "跑绒 实体店 支付宝 微信支付 差价 价保 无理由 签收 到货 补货 缺货 礼盒 羽绒服 冲锋衣 帆布鞋 乐福鞋"
)
_SUFFIXES = (
    ("ies", "y"),
    ("sses", "ss"),
    ("ches", "ch"),
    ("shes", "sh"),
    ("xes", "x"),
    ("ing", ""),
    ("ed", ""),
    ("s", ""),
)

_lock = threading.Lock()
_tokenizer: jieba.Tokenizer | None = None


def _jieba() -> jieba.Tokenizer:
    global _tokenizer
    with _lock:
        if _tokenizer is None:
            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
            for word in DOMAIN_WORDS:
                tokenizer.add_word(word, freq=200_000)
            _tokenizer = tokenizer
        return _tokenizer


def add_words(words: Iterable[str]) -> None:
    """Teach the segmenter shop words (product names, tags) so they are not split apart."""
    tokenizer = _jieba()
    for word in words:
        for run in re.findall(r"[\u4e00-\u9fff]{2,}", word):
            tokenizer.add_word(run)


# Irregular forms of verbs customers and shops use ("cannot be sent" answers "can you send").
IRREGULAR = {
    "sent": "send", "sold": "sell", "bought": "buy", "paid": "pay", "took": "take",
    "taken": "take", "brought": "bring", "made": "make", "kept": "keep", "gave": "give",
    "given": "give", "got": "get", "went": "go", "gone": "go",
    "broke": "break", "broken": "break", "wore": "wear", "worn": "wear", "chose": "choose",
    "chosen": "choose", "came": "come", "arrived": "arrive", "shipped": "ship",
}  # fmt: skip


def stem(word: str) -> str:
    """A light English stemmer: plural and -ing/-ed endings only (SKUs and numbers untouched).

    -ing and -ed need four letters left, so "rating" stays "rating" (not "rat") and
    "red" stays "red"; plurals need three ("bags" -> "bag"). Base and inflected forms then
    meet: a silent final e goes ("change", "changed" and "changing" are all "chang") and a
    doubled last consonant is undoubled ("shipping" -> "ship").
    """
    if word in IRREGULAR:
        return _settle(IRREGULAR[word])
    if any(ch.isdigit() for ch in word) or len(word) <= 3:
        return word
    for suffix, replacement in _SUFFIXES:
        least = {"s": 3, "ies": 3, "ing": 4, "ed": 4}.get(suffix, 2)
        if word.endswith(suffix) and len(word) - len(suffix) >= least:
            if suffix == "s" and word.endswith("ss"):
                return word
            base = word[: -len(suffix)] + replacement
            if suffix in ("ing", "ed") and _DOUBLED.search(base):
                base = base[:-1]
            return _settle(base)
    return _settle(word)


# A doubled final consonant left by -ing/-ed ("shipp", "stopp"); ll, ss and zz are words' own.
_DOUBLED = re.compile(r"([b-df-hj-kmnp-rtv-y])\1$")
_SILENT_E = re.compile(r"[a-z]{3}[b-df-hj-np-tv-z]e$")


def _settle(word: str) -> str:
    """Drop a silent final e from a word of five letters or more ("store" -> "stor")."""
    return word[:-1] if _SILENT_E.search(word) else word


APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'", "＇": "'"})
# Contraction endings that are not part of the word ("what's" -> "what", "we'll" -> "we").
CONTRACTION_TAILS = frozenset({"s", "re", "ve", "ll", "d", "m"})


# Well-known chat spellings of everyday words, each as long as the word (offsets hold).
CHAT_SPELLINGS = {"木有": "没有", "肿么": "怎么", "神马": "什么"}
_CHAT = re.compile("|".join(CHAT_SPELLINGS))
# English chat spellings, as whole words ("4" only before the, you or me: "4 the kettle").
EN_CHAT_SPELLINGS = {
    "hw": "how", "wat": "what", "wats": "what's", "u": "you", "ur": "your", "r": "are",
    "rn": "right now", "pls": "please", "plz": "please", "thx": "thanks", "ty": "thank you",
    "cuz": "because", "bc": "because", "b4": "before", "2day": "today", "2moro": "tomorrow",
    "wanna": "want to", "gimme": "give me", "ya": "you", "4": "for",
}  # fmt: skip
_EN_CHAT = re.compile(
    r"(?<![\w'.,¥$])(hw|wats|wat|ur|u|r|rn|pls|plz|thx|ty|cuz|bc|b4|2day|2moro|wanna|gimme|ya|"
    r"4(?= (?:the|you|me|my|a)\b))(?![\w'])"
)


def normalise(text: str) -> str:
    """NFKC (full-width to half-width), one kind of apostrophe, lowercase, chat spellings
    written out ("还有木有" is "还有没有")."""
    text = unicodedata.normalize("NFKC", text).translate(APOSTROPHES).lower()
    text = _EN_CHAT.sub(lambda m: EN_CHAT_SPELLINGS[m.group()], text)
    return _CHAT.sub(lambda m: CHAT_SPELLINGS[m.group()], text)


def drop_contraction(word: str) -> str:
    """ "what's" -> "what", "shop's" -> "shop", "they're" -> "they"; "don't" stays whole."""
    head, apostrophe, tail = word.partition("'")
    if apostrophe and head and tail in CONTRACTION_TAILS:
        return head
    return word


def _cjk_tokens(run: str) -> list[str]:
    words = [w for w in _jieba().lcut_for_search(run) if w not in ZH_STOP and w.strip()]
    seen = set(words)
    bigrams = [run[i : i + 2] for i in range(len(run) - 1)]
    return words + [b for b in bigrams if b not in seen and not (set(b) & ZH_GLUE)]


def _latin_tokens(run: str) -> list[str]:
    run = drop_contraction(run.strip("'."))
    if run in EN_STOP:
        return []
    tokens = [stem(run)]
    if "-" in run:  # "crew-neck" also matches "crew neck"; "jk-3002" stays whole too
        tokens.extend(stem(p) for p in run.split("-") if p and p not in EN_STOP)
    return tokens


# Question phrases whose words are not the topic ("how long" is not about long sleeves).
QUESTION_PHRASES = re.compile(r"\bhow (?:long|much|many|often|soon)\b|\bwhat time\b")
# Everyday phrasings of a shop word, written the same way in questions and in the shop's
# text so either matches the other ("send it back" is a return; 香港 and 澳门 are 港澳).
CANONICAL = (
    (
        re.compile(
            r"\b(?:send|sends|sent|sending|post|posted|mail|mailed|ship|shipped|take|taken|took|bring|brought)\s+(?:[a-z']+\s+){0,3}?back\b"
        ),
        " return ",
    ),
    (re.compile(r"\bmoney back\b"), " refund "),
    (re.compile(r"\bswap(?:s|ped|ping)?\b"), " exchange "),
    (re.compile(r"\bpostage\b"), " shipping "),
    (
        re.compile(
            r"\b(?:haven't|have not|hasn't|has not|didn't|did not|not|never)\s+(?:been\s+|yet\s+)?(?:open|opened)\b"
        ),
        " unopened ",
    ),
    (
        re.compile(
            r"\b(?:haven't|have not|hasn't|has not|didn't|did not|not|never)\s+(?:been\s+|yet\s+)?(?:used|worn)\b"
        ),
        " unused ",
    ),
    (
        re.compile(r"\bstill (?:sealed|wrapped|in (?:the|its|their) (?:box|packaging|wrapping))\b"),
        " unopened ",
    ),
    (re.compile(r"\bunworn\b"), " unused "),
    (re.compile(r"没有?(?:拆封|开封|拆开|打开)|未开封|未打开"), "未拆封"),
    (re.compile(r"没有?(?:用过|使用过?|穿过)|未使用"), "未使用"),
    (re.compile(r"(?<![没未不])(?:拆开了?|拆了|打开了|开封了?)"), "拆封"),
    (re.compile(r"寄回去|寄回来|寄回"), "退货"),
    (re.compile(r"香港|澳门|澳門"), "港澳"),
    # "Ship to" is 配送 in shops' own words (no shop writes 寄送).
    (re.compile(r"[寄发送](?:到|往|去|至)"), " 配送 "),
)


def canonical(text: str) -> str:
    """``text`` (normalised) with everyday phrasings replaced by the shop word they mean."""
    for pattern, replacement in CANONICAL:
        text = pattern.sub(replacement, text)
    return QUESTION_PHRASES.sub(" ", text)


def tokenize(text: str) -> list[str]:
    """Retrieval tokens of ``text`` (order kept, repeats kept for term frequency)."""
    tokens: list[str] = []
    for match in RUN.finditer(canonical(normalise(text))):
        run = match.group()
        if "\u4e00" <= run[0] <= "\u9fff":
            tokens.extend(_cjk_tokens(run))
        else:
            tokens.extend(_latin_tokens(run))
    return tokens


def sub_words(word: str) -> list[str]:
    """The shorter dictionary words inside a Chinese word ("优惠活动" -> "优惠", "活动")."""
    return [w for w in _jieba().lcut_for_search(word) if w != word and len(w) > 1]


def key_terms(text: str) -> list[str]:
    """The informative words of a query (no bigrams): used to judge how much of it matched."""
    terms: list[str] = []
    for match in RUN.finditer(canonical(normalise(text))):
        run = match.group()
        if "\u4e00" <= run[0] <= "\u9fff":
            terms.extend(w for w in _jieba().lcut(run) if w not in ZH_STOP and w.strip())
        elif not run.replace(".", "").isdigit():  # numbers are sizes or amounts, not topics
            terms.extend(_latin_tokens(run)[:1])
    return terms
