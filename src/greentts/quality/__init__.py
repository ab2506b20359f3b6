"""Quality checks (optional extra ``greentts[asr]``): offline ASR and error rates."""
