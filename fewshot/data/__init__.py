"""`python -m fewshot.data check|make-toy`: the command line of the video data layer (`zeroi2v.data`)."""
