"""Acronyms in Mandarin, said two ways by zf_xiaoxiao, heard by Whisper base (research/zh-acronyms/REPORT.md).

    .venv/bin/python research/zh-acronyms/trial.py
"""
from hibari.g2p import G2P
from greentts import Engine
from greentts.quality.asr import Transcriber
from greentts.quality.scoring import best_errors, zh_tokens
from greentts.text.frontend import ZH_LETTER_NAMES
from greentts.text.lexicon import pinyin_to_phonemes
g = G2P()
FRESH = [("ATM", "楼下的ATM机今天坏了，取不了钱。"), ("NBA", "他从小就特别喜欢看NBA的比赛。"),
 ("DNA", "警方通过DNA比对找到了嫌疑人。"), ("SUV", "我们家想换一辆空间大一点的SUV。"),
 ("MBA", "她工作三年以后去读了MBA。"), ("ICU", "爷爷昨晚被送进了ICU观察。"),
 ("CCTV", "今晚CCTV会直播这场比赛。"), ("UFO", "有人说在山顶上看到了UFO。"),
 ("VR", "商场里新开了一家VR体验馆。"), ("AI", "现在很多公司都在用AI写代码。"),
 ("GPS", "手机的GPS信号在隧道里很弱。"), ("LED", "客厅的灯全部换成了LED灯。"),
 ("MRI", "医生建议他去做一个MRI检查。"), ("TV", "这款智能TV支持语音控制。"),
 ("UI", "新版本的UI设计比以前简洁多了。"), ("CPU", "这台电脑的CPU温度有点高。"),
 ("BBC", "我每天早上都听BBC的新闻。"), ("IQ", "这道题很考验一个人的IQ。"),
 ("PhD", "他在国外读完PhD就回国了。"), ("SOS", "船员在海上发出了SOS求救信号。")]
from greentts.text.lexicon import kokoro_vocab
V = kokoro_vocab()
def clean(ph): return " ".join("".join(c for c in ph if c in V).split())
def variants(acr):
    L = [c for c in acr.upper() if c.isalpha()]
    py = [ZH_LETTER_NAMES[c] for c in L]
    return {k: clean(v) for k, v in _variants(L, py).items()}
def _variants(L, py):
    return {"mandarin_letter_names": " ".join(pinyin_to_phonemes(p.split()) for p in py),
            "english_letters": g(" ".join(L))[0]}
asr = Transcriber()
tot = {}
with Engine() as e:
    for src, rows in (("fresh", [(a, w, w.replace(a, " " + " ".join(a.lower()) + " ")) for a, w in FRESH]),):
        for acr, w, spoken in rows:
            for name, ph in variants(acr).items():
                ssml = "<speak>" + w.replace(acr, f'<phoneme alphabet="ipa" ph="{ph}">{acr}</phoneme>') + "</speak>"
                r = e.synthesize(ssml, voice="zf_xiaoxiao", lang="zh")
                heard = asr.transcribe(r.audio, r.sample_rate, "zh", True)
                err, n = best_errors(spoken, heard, zh_tokens)
                t = tot.setdefault(name, [0, 0, 0]); t[0] += err; t[1] += n
                t[2] += acr.upper() in heard.upper()
                print(name, acr, err, n, heard, flush=True)
for k, (a, b, latin) in sorted(tot.items()):
    print(f"{k}: token error {a}/{b} = {a / b:.3f}; acronym written in Latin letters in {latin}/{len(FRESH)}")
