"""Audio in: decoding a corpus folder into training chunks (corpus) and the magnitude +
instantaneous-frequency representation the model sees (representation)."""
