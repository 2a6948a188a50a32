"""Nano-EmoX, Hugging Face-native: the `nanoemox` command and what it needs besides the checkpoint code.

    cli.py             the `nanoemox` command: one line per subcommand, one-line errors, early path checks
    cli_inputs.py      CLIError and the path checks every subcommand's options go through
    compose.py         `nanoemox init`: a checkpoint folder composed from pretrained (or tiny) components
    chat_template.py   special tokens, chat template and branch placeholders every checkpoint's tokenizer has
    predict.py         `nanoemox predict`: one clip through the emotion-analysis pipeline
    answers.py         `nanoemox answers`: a trained run's held-out answers beside their gold labels
    machine.py         the cores this process may use, and a description of the machine for reports
    tiny/              the tiny demo components: shapes, tokenizer, pre-training, the cache of pre-trained ones
    bench/             `nanoemox bench`: one file per benchmark section

Installed, the repository's other folders are subpackages of this one: `nanoemox.modeling` (modeling_nanoemox/),
`nanoemox.processing`, `nanoemox.train`, `nanoemox.evaluation`, `nanoemox.model_cards`.
"""
