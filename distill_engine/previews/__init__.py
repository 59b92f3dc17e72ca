"""Hearing the model: audio previews rendered during training and from any checkpoint.

layout.py (the previews/ folder's file names, writing and reading clips; no torch), quality.py
(MR-STFT distances, loudness, the sample-quality figures), latent_prior.py (where samples' latent
vectors come from), session.py (the trainer's epoch-end hook), render.py (render a checkpoint to a
folder; distill-render and the desktop's Render… dialog), cli.py (distill-render).
The interface with the desktop is written down in the README's "Previews" section.
"""
