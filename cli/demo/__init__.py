"""``kstreamy demo``: the robust-stream-processing walkthrough (see ``runner``)."""
