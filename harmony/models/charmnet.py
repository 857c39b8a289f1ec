"""CharmNet: cross-domain harmonization with rendered data (Cao, Cong, Niu et al., "Deep Image
Harmonization by Bridging the Reality Gap", BMVC 2022, section 4).

What follows the paper:

- Generator: the iDIH backbone (a U-Net-like DIH with skip links and an image blending layer, Sofiiuk et
  al.) in three stages. The first ``specific`` (4) encoder layers and the last 4 decoder layers (with
  their blending layer) exist twice, once for the **real** and once for the **rendered** domain
  (``E_rl``/``E_rd``, ``D_rl``/``D_rd``); the middle encoder and decoder layers are shared.
- Domain discriminator ``D`` on the first-stage features ``f_in`` with the hinge loss (Eq. 1):
  ``L_D = E[max(0, 1 - D(f_in^rl))] + E[max(0, 1 + D(f_in^rd))]``, ``L_G^rd = -E[D(f_in^rd)]``.
- Reconstruction per domain (Eq. 2): ``||I_hat - I||_1`` for rendered and real pairs.
- Two 10-way style classifiers shared by both domains: ``P_in`` on ``f_in`` (before the shared stage)
  and ``P_out`` on ``f_out`` (after it). Rendered (Eq. 3): soft cross-entropy of ``P_in`` against the
  composite's soft label and cross-entropy of ``P_out`` against the ground truth's one-hot style.
  Real, the style aggregation loss ``L_SA = L_W + L_ER``: weighted classification (Eq. 4)
  ``-sum_k P_in_k log P_out_k`` and entropy reduction with margin (Eq. 5)
  ``max(0, m + sum_k P_in_k log P_in_k - sum_k P_out_k log P_out_k) = max(0, m - H(P_in) + H(P_out))``.
- Total (Eq. 6): ``L_rec^rd + L_rec^rl + l_adv L_G^rd + l_sty^rd (L_in^rd + L_out^rd) + l_sty^rl L_SA^rl``.
- Training data: a real dataset (iHarmony4 layout; ``--data``) plus a rendered one with its
  ``labels.txt`` (``harmony datagen rendered``; ``--rendered``). At test time the real branch runs.

What differs and why (the supplement with the training details is not available):

- Trade-offs ``l_adv = 0.01``, ``l_sty^rd = l_sty^rl = 0.01`` and margin ``m = 0.1`` are our choices.
- In ``L_W`` the target distribution ``P_in(f_in^rl)`` is detached (it weights the classification; the
  paper does not say whether gradients flow through the weights); ``L_ER`` back-propagates into both.
- ``f_out`` is the output of the shared decoder layers (same resolution as ``f_in``), before the skip
  concatenation of the domain-specific decoder; classifiers are a 3x3 conv + ReLU + global average pool
  + linear layer; the domain discriminator is a small patch CNN.
- iDIH's encoder/decoder layers: 4x4 stride-2 convolution / transposed convolution + BN (from the third
  encoder layer on, as iDIH) + ELU; widths double from ``ch`` up to ``max_channels``; blending layer:
  ``out = a * rgb + (1 - a) * C`` with ``a = sigmoid(conv1x1)``, ``rgb = conv1x1`` (as iDIH's image
  fusion). ``charmnet_paper``: 256x256, depth 7, ch 64; ``charmnet_tiny``: 64x64, depth 5, ch 12, with
  GroupNorm instead of BN (``norm="group"``: batches of 4 on CPU make BN's running statistics unreliable
  after a minute of training).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from .base import HarmonyNet
from .sprih import norm2d

DOMAINS = ("real", "rendered")
N_STYLES = 10


def _enc_layer(cin: int, cout: int, bn: bool, norm: str = "batch") -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 4, 2, 1, bias=not bn), norm2d(norm, cout) if bn else nn.Identity(),
                         nn.ELU(inplace=True))


def _dec_layer(cin: int, cout: int, norm: str = "batch") -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), norm2d(norm, cout), nn.ELU(inplace=True))


class StyleClassifier(nn.Module):
    """10-way style classifier on a feature map: 3x3 conv + ReLU + global average pool + linear (logits).

    Parameters
    ----------
    cin : int
        Channels of the feature map.
    width : int
        Channels of the 3x3 convolution.
    n_styles : int, default 10
        Capture styles of the rendered dataset.
    """

    def __init__(self, cin: int, width: int, n_styles: int = N_STYLES):
        super().__init__()
        self.conv = nn.Conv2d(cin, width, 3, 1, 1)
        self.fc = nn.Linear(width, n_styles)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        """Style logits of a feature map.

        Parameters
        ----------
        f : torch.Tensor, (N, cin, H, W) float

        Returns
        -------
        torch.Tensor, (N, n_styles) float
            Logits (softmax gives the style distribution ``P``).
        """
        return self.fc(F.relu(self.conv(f)).mean(dim=(2, 3)))


class DomainDiscriminator(nn.Module):
    """Patch critic on first-stage features (three 3x3 convolutions, LeakyReLU 0.2; hinge loss, Eq. 1).

    Parameters
    ----------
    cin : int
        Channels of ``f_in``.
    width : int
        Hidden channels.
    """

    def __init__(self, cin: int, width: int):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(cin, width, 3, 1, 1), nn.LeakyReLU(0.2, True),
                                 nn.Conv2d(width, width, 3, 1, 1), nn.LeakyReLU(0.2, True),
                                 nn.Conv2d(width, 1, 3, 1, 1))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        """Critic scores.

        Parameters
        ----------
        f : torch.Tensor, (N, cin, H, W) float
            First-stage features of the real or rendered branch.

        Returns
        -------
        torch.Tensor, (N, 1, H, W) float
            Unbounded scores, positive for "real".
        """
        return self.net(f)


# --- the losses (module-level so they can be checked on hand-made tensors) ---------------------------

def soft_cross_entropy(target: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against a soft target (Eq. 3): ``-sum_k y_k log P_k``, averaged over the batch.

    Parameters
    ----------
    target : torch.Tensor, (N, K) float
        Soft labels (rows sum to 1) or one-hot rows.
    logits : torch.Tensor, (N, K) float

    Returns
    -------
    torch.Tensor, () float, >= 0

    References
    ----------
    .. [1] J. Cao, W. Cong, L. Niu, J. Zhang, L. Zhang, "Deep Image Harmonization by Bridging the Reality
       Gap", BMVC 2022.
    """
    return -(target * F.log_softmax(logits, dim=1)).sum(1).mean()


def weighted_classification_loss(logits_in: torch.Tensor, logits_out: torch.Tensor) -> torch.Tensor:
    """Weighted classification loss of the real domain (Eq. 4): ``-sum_k P_in_k log P_out_k``, batch mean.

    Parameters
    ----------
    logits_in : torch.Tensor, (N, K) float
        Logits of ``P_in`` (on the first-stage features ``f_in``).
    logits_out : torch.Tensor, (N, K) float
        Logits of ``P_out`` (on the shared stage's output ``f_out``).

    Returns
    -------
    torch.Tensor, () float, >= 0
        ``P_in`` is detached (it weights the classification; no gradient flows into it).

    References
    ----------
    .. [1] J. Cao, W. Cong, L. Niu, J. Zhang, L. Zhang, "Deep Image Harmonization by Bridging the Reality
       Gap", BMVC 2022.
    """
    p_in = F.softmax(logits_in, dim=1).detach()
    return -(p_in * F.log_softmax(logits_out, dim=1)).sum(1).mean()


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Per-sample entropy ``-sum_k P_k log P_k`` (natural log) of ``softmax(logits)``.

    Parameters
    ----------
    logits : torch.Tensor, (N, K) float

    Returns
    -------
    torch.Tensor, (N,) float in [0, log K]
    """
    return -(F.softmax(logits, dim=1) * F.log_softmax(logits, dim=1)).sum(1)


def entropy_reduction_loss(logits_in: torch.Tensor, logits_out: torch.Tensor, margin: float) -> torch.Tensor:
    """Entropy reduction loss with margin (Eq. 5): ``max(0, m - H(P_in) + H(P_out))``, batch mean.

    Parameters
    ----------
    logits_in : torch.Tensor, (N, K) float
        Logits of ``P_in`` (on the first-stage features ``f_in``).
    logits_out : torch.Tensor, (N, K) float
        Logits of ``P_out`` (on the shared stage's output ``f_out``).
    margin : float
        ``m`` (0.1 in the presets).

    Returns
    -------
    torch.Tensor, () float, >= 0
        Zero once ``P_out`` is at least ``m`` nats more confident than ``P_in``.

    References
    ----------
    .. [1] J. Cao, W. Cong, L. Niu, J. Zhang, L. Zhang, "Deep Image Harmonization by Bridging the Reality
       Gap", BMVC 2022.
    """
    return F.relu(margin - entropy(logits_in) + entropy(logits_out)).mean()


def hinge_d_loss(d_real: torch.Tensor, d_rendered: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss (Eq. 1): ``E[max(0, 1 - D(f_rl))] + E[max(0, 1 + D(f_rd))]``.

    Parameters
    ----------
    d_real : torch.Tensor, any shape, float
        Critic scores of real-domain features (the positive class).
    d_rendered : torch.Tensor, any shape, float
        Critic scores of rendered-domain features.

    Returns
    -------
    torch.Tensor, () float, >= 0

    References
    ----------
    .. [1] J. Cao, W. Cong, L. Niu, J. Zhang, L. Zhang, "Deep Image Harmonization by Bridging the Reality
       Gap", BMVC 2022.
    """
    return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_rendered).mean()


def hinge_g_loss(d_rendered: torch.Tensor) -> torch.Tensor:
    """Generator side of Eq. 1 for the rendered encoder: ``-E[D(f_in^rd)]``.

    Parameters
    ----------
    d_rendered : torch.Tensor, any shape, float
        Critic scores of rendered-domain features.

    Returns
    -------
    torch.Tensor, () float

    References
    ----------
    .. [1] J. Cao, W. Cong, L. Niu, J. Zhang, L. Zhang, "Deep Image Harmonization by Bridging the Reality
       Gap", BMVC 2022.
    """
    return -d_rendered.mean()


class CharmNet(HarmonyNet):
    """Two-domain iDIH generator + domain discriminator + style classifiers (see the module docstring).

    Parameters
    ----------
    size : int, default 256
        Side the network runs at; a multiple of ``2**depth``.
    ch, depth, max_channels : int
        First-layer width, encoder depth and width cap (widths double per level).
    specific : int, default 4
        Domain-specific encoder and decoder layers at each end (the rest is shared).
    cls_width, disc_width : int
        Hidden widths of the style classifiers and the domain critic.
    n_styles : int, default 10
    lambda_adv, lambda_sty_rd, lambda_sty_rl : float
        Trade-offs of Eq. 6 (adversarial, rendered style, real style aggregation).
    margin : float, default 0.1
        ``m`` of Eq. 5.
    norm : {"batch", "group", "instance", "none"}
        Normalisation of the encoder and decoder layers.

    References
    ----------
    .. [1] J. Cao, W. Cong, L. Niu, J. Zhang, L. Zhang, "Deep Image Harmonization by Bridging the Reality
       Gap", BMVC 2022.
    """

    model_name = "charmnet"

    def __init__(self, size: int = 256, ch: int = 64, depth: int = 7, specific: int = 4, max_channels: int = 512,
                 cls_width: int = 128, disc_width: int = 128, n_styles: int = N_STYLES, lambda_adv: float = 0.01,
                 lambda_sty_rd: float = 0.01, lambda_sty_rl: float = 0.01, margin: float = 0.1, norm: str = "batch"):
        super().__init__(size=size, ch=ch, depth=depth, specific=specific, max_channels=max_channels,
                         cls_width=cls_width, disc_width=disc_width, n_styles=n_styles, lambda_adv=float(lambda_adv),
                         lambda_sty_rd=float(lambda_sty_rd), lambda_sty_rl=float(lambda_sty_rl), margin=float(margin),
                         norm=norm)
        if depth <= specific or specific < 1:
            raise ValueError(f"CharmNet: depth ({depth}) must exceed the domain-specific layers ({specific})")
        if size % (2 ** depth):
            raise ValueError(f"CharmNet: size must be a multiple of 2**depth = {2 ** depth}, got {size}")
        widths = [min(ch * 2 ** i, max_channels) for i in range(depth)]
        self.widths = widths
        self.specific = specific

        def encoder(levels: range, cin0: int) -> nn.ModuleList:
            layers, cin = nn.ModuleList(), cin0
            for i in levels:
                layers.append(_enc_layer(cin if i == levels.start else widths[i - 1], widths[i], bn=i >= 2, norm=norm))
            return layers

        def decoder(levels: range) -> nn.ModuleList:
            # decoder layer j: input = (out of layer j+1) [+ skip e_j when j < depth-1]; output width
            # widths[j-1] at e_{j-1}'s resolution (layer 0 -> full resolution, width ch)
            layers = nn.ModuleList()
            for j in reversed(levels):
                cin = widths[j] if j == depth - 1 else widths[j] * 2
                layers.append(_dec_layer(cin, widths[j - 1] if j > 0 else ch, norm))
            return layers

        self.enc_specific = nn.ModuleDict({d: encoder(range(0, specific), 4) for d in DOMAINS})
        self.enc_shared = encoder(range(specific, depth), widths[specific - 1])
        self.dec_shared = decoder(range(specific, depth))
        self.dec_specific = nn.ModuleDict({d: decoder(range(0, specific)) for d in DOMAINS})
        self.blend = nn.ModuleDict({d: nn.Conv2d(ch, 4, 1) for d in DOMAINS})
        f_ch = widths[specific - 1]
        self.p_in = StyleClassifier(f_ch, cls_width, n_styles)
        self.p_out = StyleClassifier(f_ch, cls_width, n_styles)
        self.domain_discriminator = DomainDiscriminator(f_ch, disc_width)

    def run(self, composite: torch.Tensor, mask: torch.Tensor, domain: str = "real") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run one domain's branch.

        Parameters
        ----------
        composite : torch.Tensor, (N, 3, H, W) float in [0, 1]
        mask : torch.Tensor, (N, 1, H, W) float in [0, 1]
        domain : {"real", "rendered"}, default "real"

        Returns
        -------
        image : torch.Tensor, (N, 3, H, W) float in [0, 1]
            ``a * rgb + (1 - a) * C`` (iDIH's blending layer).
        f_in : torch.Tensor, (N, widths[specific - 1], H / 2**specific, W / 2**specific) float
            First-stage features (before the shared layers).
        f_out : torch.Tensor
            Output of the shared decoder layers, same shape as ``f_in``.

        Raises
        ------
        ValueError
            For another ``domain``.
        """
        if domain not in DOMAINS:
            raise ValueError(f"domain: expected real | rendered, got {domain!r}")
        x = torch.cat([composite * 2.0 - 1.0, mask], 1)
        skips = []
        for layer in self.enc_specific[domain]:
            x = layer(x)
            skips.append(x)
        f_in = x
        for layer in self.enc_shared:
            x = layer(x)
            skips.append(x)
        depth = len(self.widths)
        j = depth - 1
        for layer in self.dec_shared:                # j = depth-1 ... specific
            if j < depth - 1:
                x = torch.cat([x, skips[j]], 1)
            x = layer(x)
            j -= 1
        f_out = x                                     # at f_in's resolution
        for layer in self.dec_specific[domain]:       # j = specific-1 ... 0
            x = layer(torch.cat([x, skips[j]], 1))
            j -= 1
        b = self.blend[domain](x)
        alpha = torch.sigmoid(b[:, :1])
        rgb = torch.sigmoid(b[:, 1:])
        out = alpha * rgb + (1.0 - alpha) * composite
        return out, f_in, f_out

    def forward(self, composite: torch.Tensor, mask: torch.Tensor, domain: str = "real") -> torch.Tensor:
        """Harmonize through one domain's branch (the real one at test time).

        Parameters
        ----------
        composite : torch.Tensor, (N, 3, H, W) float in [0, 1]
        mask : torch.Tensor, (N, 1, H, W) float in [0, 1]
        domain : {"real", "rendered"}, default "real"

        Returns
        -------
        torch.Tensor, (N, 3, H, W) float in [0, 1]
        """
        return self.run(composite, mask, domain)[0]

    # -- training hooks -------------------------------------------------------------------------------
    def generator_parameters(self):
        """Every parameter except the domain discriminator's (what the ``main`` optimizer steps).

        Returns
        -------
        list of torch.nn.Parameter
        """
        return [p for n, p in self.named_parameters() if not n.startswith("domain_discriminator.")]

    extra_streams = {"rendered": True}

    def optimizer_groups(self) -> dict[str, list]:
        """Two optimizers: ``main`` (generator and style classifiers) and ``critic`` (domain discriminator).

        Returns
        -------
        dict of str to list of torch.nn.Parameter
        """
        return {"main": self.generator_parameters(), "critic": list(self.domain_discriminator.parameters())}

    def optimizer_options(self, name: str) -> dict[str, Any]:
        """Adam options of the critic.

        Parameters
        ----------
        name : str
            ``critic``.

        Returns
        -------
        dict
            ``betas=(0.5, 0.999)`` (the usual GAN setting; the paper's supplement is not available).
        """
        return {"betas": (0.5, 0.999)}

    def train_phases(self) -> tuple[str, ...]:
        """The phases of one step: the generator first, then the critic on the step's detached features.

        Returns
        -------
        tuple of str
            ``("main", "critic")``.
        """
        return ("main", "critic")

    def losses(self, real_batch: Mapping[str, torch.Tensor], rendered_batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Every term of Eq. 6 on one real and one rendered batch.

        Parameters
        ----------
        real_batch : mapping
            ``composite``, ``real`` (N, 3, H, W) and ``mask`` (N, 1, H, W), float in [0, 1].
        rendered_batch : mapping
            The same keys plus ``soft`` (N, 10) float soft style labels and ``style`` (N,) int 0-based
            ground-truth style.

        Returns
        -------
        dict of str to torch.Tensor
            Scalars ``total``, ``rec_rd``, ``rec_rl`` (L1), ``adv_g``, ``sty_in_rd``, ``sty_out_rd``,
            ``sa_w_rl``, ``sa_er_rl``; and the detached first-stage features ``_fin_rl``, ``_fin_rd`` for the
            critic phase.

        References
        ----------
        .. [1] J. Cao, W. Cong, L. Niu, J. Zhang, L. Zhang, "Deep Image Harmonization by Bridging the Reality
           Gap", BMVC 2022.
        """
        cfg = self.config
        out_rl, fin_rl, fout_rl = self.run(real_batch["composite"], real_batch["mask"], "real")
        out_rd, fin_rd, fout_rd = self.run(rendered_batch["composite"], rendered_batch["mask"], "rendered")
        rec_rl = (out_rl - real_batch["real"]).abs().mean()
        rec_rd = (out_rd - rendered_batch["real"]).abs().mean()
        adv = hinge_g_loss(self.domain_discriminator(fin_rd))
        li_rl, lo_rl = self.p_in(fin_rl), self.p_out(fout_rl)
        l_in = soft_cross_entropy(rendered_batch["soft"], self.p_in(fin_rd))
        gt = F.one_hot(rendered_batch["style"].long(), int(cfg["n_styles"])).to(li_rl.dtype)
        l_out = soft_cross_entropy(gt, self.p_out(fout_rd))
        l_w = weighted_classification_loss(li_rl, lo_rl)
        l_er = entropy_reduction_loss(li_rl, lo_rl, float(cfg["margin"]))
        total = (rec_rd + rec_rl + cfg["lambda_adv"] * adv + cfg["lambda_sty_rd"] * (l_in + l_out)
                 + cfg["lambda_sty_rl"] * (l_w + l_er))
        return {"total": total, "rec_rd": rec_rd, "rec_rl": rec_rl, "adv_g": adv, "sty_in_rd": l_in,
                "sty_out_rd": l_out, "sa_w_rl": l_w, "sa_er_rl": l_er,
                "_fin_rl": fin_rl.detach(), "_fin_rd": fin_rd.detach()}

    def phase_losses(self, phase: str, batch: Mapping[str, Any], context: Any) -> dict[str, torch.Tensor]:
        """Losses of one phase of a step.

        Parameters
        ----------
        phase : {"main", "critic"}
            ``main``: Eq. 6 on the real batch and the step's rendered batch; ``critic``: the domain
            discriminator's hinge loss (Eq. 1) on the features the main phase left in ``context.carry``.
        batch : mapping
            The real batch, with the rendered one under ``batch["streams"]["rendered"]``.
        context : harmony.models.trainer.StepContext
            Carries the features from the main phase to the critic phase.

        Returns
        -------
        dict of str to torch.Tensor
            ``total`` is back-propagated.

        Raises
        ------
        harmony.errors.InputError
            When the step has no rendered batch (``--rendered`` missing).
        """
        if phase == "critic":
            d_loss = hinge_d_loss(self.domain_discriminator(context.carry["fin_rl"]),
                                  self.domain_discriminator(context.carry["fin_rd"]))
            return {"total": d_loss, "d": d_loss.detach()}
        rendered = (batch.get("streams") or {}).get("rendered")
        if rendered is None:
            raise InputError("charmnet: no rendered data in this step (--rendered DIR)")
        losses = self.losses(batch, rendered)
        context.carry.update(fin_rl=losses.pop("_fin_rl"), fin_rd=losses.pop("_fin_rd"))
        return losses

    def training_losses(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Real-domain L1 reconstruction only (for callers without the rendered stream; training uses
        :meth:`phase_losses`).

        Parameters
        ----------
        batch : mapping
            ``composite``, ``real`` (N, 3, H, W) and ``mask`` (N, 1, H, W), float in [0, 1].

        Returns
        -------
        dict of str to torch.Tensor
            ``total`` and ``rec_rl``, equal scalars.
        """
        rec = (self(batch["composite"], batch["mask"]) - batch["real"]).abs().mean()
        return {"total": rec, "rec_rl": rec}
