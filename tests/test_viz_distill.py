"""The Train page's distillation chart (tinymtp.viz.distill_curves), on a hand-made history and on
a real tinymtp.training.distill run's history."""

from __future__ import annotations

from tinymtp import viz


def test_distill_curves_label_heads_from_2_and_smooth_their_losses():
    history = {"train": [[s, 2.0 - s / 10, 3.0 - s / 10, 9.0] for s in range(1, 7)],
               "eval": [{"step": 0, "heads": [{"head": 2, "greedy_agreement": 0.5}, {"head": 3, "greedy_agreement": 0.4},
                                              {"head": 4, "greedy_agreement": 0.3}]},
                        {"step": 6, "heads": [{"head": 2, "greedy_agreement": 0.6}, {"head": 3, "greedy_agreement": 0.45},
                                              {"head": 4, "greedy_agreement": 0.35}]}]}
    fig = viz.distill_curves(history, smooth=2)
    assert [t.name for t in fig.data] == ["head 2 loss", "head 2 agreement", "head 3 loss", "head 3 agreement",
                                          "head 4 loss", "head 4 agreement"]
    head2_loss, head2_agreement = fig.data[0], fig.data[1]
    assert list(head2_loss.x) == [1, 2, 3, 4, 5, 6]
    assert list(head2_loss.y)[:2] == [1.9, (1.9 + 1.8) / 2]  # a running mean over 2 steps
    assert list(fig.data[4].y) == [9.0] * 6  # head 4's column is the last one, not head 3's
    assert list(head2_agreement.x) == [0, 6] and list(head2_agreement.y) == [0.5, 0.6]
    assert head2_loss.line.color == viz.head_colour(2) and fig.data[4].line.color == viz.head_colour(4)
    assert head2_agreement.xaxis == "x2"  # agreement on the right-hand plot


def test_distill_curves_before_the_first_step_and_on_a_real_run():
    from tinymtp.core.model import ModelConfig, MTPModel
    from tinymtp.data.corpora import Corpus, stories_text
    from tinymtp.training.distill import DistillConfig, distill

    assert len(viz.distill_curves({"train": [], "eval": []}).data) == 0
    corpus = Corpus("tiny", stories_text(seed=1, size=4000))
    model = MTPModel(ModelConfig.from_preset("micro", vocab_size=corpus.tokenizer.vocab_size, n_heads=3))
    result = distill(model, corpus, DistillConfig(steps=2, batch_size=2, window=12, eval_every=1, eval_windows=2,
                                                  warmup_steps=1, threads=1))
    fig = viz.distill_curves(result.history)
    assert [t.name for t in fig.data] == ["head 2 loss", "head 2 agreement", "head 3 loss", "head 3 agreement"]
    assert list(fig.data[1].x) == [0, 1, 2]


def test_distill_curves_name_the_soft_loss_and_the_bar_shows_head_1_when_the_trunk_trains():
    from types import SimpleNamespace

    from tinymtp.training.progress import DistillProgressBar

    history = {"train": [[1, 0.5, 0.6]], "eval": []}
    titles = [a.text for a in viz.distill_curves(history, target="soft").layout.annotations]
    assert "distillation loss (KL to head 1's distribution)" in titles
    assert "distillation loss (target: greedy's token)" in [a.text for a in viz.distill_curves(history).layout.annotations]
    bar = DistillProgressBar(SimpleNamespace(steps=3, minutes=None))
    info = SimpleNamespace(head_losses=[0.5, 0.6], head1_loss=None)
    assert bar.postfix(info) == "h2=0.500 h3=0.600"
    info.head1_loss = 1.25
    assert bar.postfix(info) == "h2=0.500 h3=0.600 | h1 on the text 1.250"
