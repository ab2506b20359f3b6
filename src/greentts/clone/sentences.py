"""The sentences enrollment speaks: training (refinement), validation (scoring) and guard (Whisper).

None of them is used by tests or benchmarks as held-out text (those are in :mod:`.evaluate`).
"""

__all__ = ["TRAIN_SENTENCES", "VALIDATION_SENTENCE", "GUARD_SENTENCES"]

# Training sentences (never used by tests or benchmarks as held-out text), about 2-3 s each.
TRAIN_SENTENCES = {
    "en": ["She opened the window and let the morning air into the room.",
           "We will meet again next week to talk about the plan.",
           "How much does it cost to send a letter to Canada?",
           "The old bridge was closed for repairs all summer long."],
    "zh": ["她打开窗户，让早晨的空气进到房间里。",
           "我们下个星期再见面，商量一下这个计划。",
           "寄一封信到加拿大要多少钱？",
           "那座老桥整个夏天都在维修。"],
}
VALIDATION_SENTENCE = {"en": "Thank you for calling, your order is on its way.",
                       "zh": "谢谢您的来电，您的订单已经发出。"}
# Intelligibility guard and pitch check (Whisper, when the asr extra is installed): a clone may add at most
# ASR_GIVE to its start voice's mean WER (en) / CER (zh) on these; otherwise its AdaIN offsets are scaled
# down. Four sentences, two of them long and with less common words: two short, easy ones let clones pass
# that then missed on held-out text (WER 5.9 % vs 1.7 % for the start voice, CI of 6500b55), and a median
# F0 over two sentences moved by up to 5 % with their intonation.
GUARD_SENTENCES = {"en": [VALIDATION_SENTENCE["en"], "Please turn left at the next corner and walk straight on.",
                          "The museum opens at nine, but the guided tours only begin an hour later.",
                          "My brother repaired the wooden fence while the neighbours watched from the garden."],
                   "zh": [VALIDATION_SENTENCE["zh"], "请在下一个路口向左转，然后一直往前走。",
                          "博物馆九点开门，不过讲解要晚一个小时才开始。",
                          "我哥哥修理木头篱笆的时候，邻居们在院子里看着。"]}
