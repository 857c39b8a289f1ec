"""CharmNet: cross-domain harmonization with rendered data (Cao, Cong, Niu, BMVC 2021, "Deep image
harmonization by bridging the reality gap"; seed 004_c09fbb6e79c54466, section 4; REFERENCE.md section 6).

What follows the paper
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

What differs and why (the supplement with the training details is not available)
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
    """10-way style classifier on a feature map: 3x3 conv + ReLU + global average pool + linear (logits)."""

    def __init__(self, cin: int, width: int, n_styles: int = N_STYLES):
        super().__init__()
        self.conv = nn.Conv2d(cin, width, 3, 1, 1)
        self.fc = nn.Linear(width, n_styles)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.fc(F.relu(self.conv(f)).mean(dim=(2, 3)))


class DomainDiscriminator(nn.Module):
    """Patch critic on first-stage features (hinge loss, Eq. 1)."""

    def __init__(self, cin: int, width: int):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(cin, width, 3, 1, 1), nn.LeakyReLU(0.2, True),
                                 nn.Conv2d(width, width, 3, 1, 1), nn.LeakyReLU(0.2, True),
                                 nn.Conv2d(width, 1, 3, 1, 1))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.net(f)


# --- the losses (module-level so they can be checked on hand-made tensors) ---------------------------

def soft_cross_entropy(target: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Eq. 3: ``-sum_k y_k log P_k`` averaged over the batch; ``target`` (B, K) soft or one-hot."""
    return -(target * F.log_softmax(logits, dim=1)).sum(1).mean()


def weighted_classification_loss(logits_in: torch.Tensor, logits_out: torch.Tensor) -> torch.Tensor:
    """Eq. 4: ``-sum_k P_in_k log P_out_k`` (``P_in`` detached: it is the weight), batch mean."""
    p_in = F.softmax(logits_in, dim=1).detach()
    return -(p_in * F.log_softmax(logits_out, dim=1)).sum(1).mean()


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Per-sample entropy ``-sum_k P_k log P_k`` (natural log) of softmax(logits)."""
    return -(F.softmax(logits, dim=1) * F.log_softmax(logits, dim=1)).sum(1)


def entropy_reduction_loss(logits_in: torch.Tensor, logits_out: torch.Tensor, margin: float) -> torch.Tensor:
    """Eq. 5: ``max(0, m + sum P_in log P_in - sum P_out log P_out) = max(0, m - H_in + H_out)``, batch mean."""
    return F.relu(margin - entropy(logits_in) + entropy(logits_out)).mean()


def hinge_d_loss(d_real: torch.Tensor, d_rendered: torch.Tensor) -> torch.Tensor:
    """Eq. 1 (discriminator): real features are the positive class, rendered the negative."""
    return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_rendered).mean()


def hinge_g_loss(d_rendered: torch.Tensor) -> torch.Tensor:
    """Eq. 1 (generator, rendered encoder): ``-E[D(f_in^rd)]``."""
    return -d_rendered.mean()


class CharmNet(HarmonyNet):
    """Two-domain iDIH generator + domain discriminator + style classifiers (see the module docstring).

    ``forward(composite, mask, domain="real") -> image`` on the torch contract; :meth:`run` also
    returns ``f_in`` and ``f_out``.
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
        """``(harmonized image, f_in, f_out)`` through the ``domain`` branch."""
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
        return self.run(composite, mask, domain)[0]

    # -- training hooks -------------------------------------------------------------------------------
    def generator_parameters(self):
        return [p for n, p in self.named_parameters() if not n.startswith("domain_discriminator.")]

    extra_streams = {"rendered": True}

    def optimizer_groups(self) -> dict[str, list]:
        return {"main": self.generator_parameters(), "critic": list(self.domain_discriminator.parameters())}

    def optimizer_options(self, name: str) -> dict[str, Any]:
        return {"betas": (0.5, 0.999)}

    def train_phases(self) -> tuple[str, ...]:
        return ("main", "critic")

    def losses(self, real_batch: Mapping[str, torch.Tensor], rendered_batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Every term of Eq. 6 (and the discriminator's Eq. 1 on detached features under ``"d"``)."""
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
        """``main``: Eq. 6 on the real batch and the step's rendered batch (``batch["streams"]["rendered"]``);
        ``critic``: the domain discriminator's hinge loss (Eq. 1) on the detached first-stage features."""
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
        """Real-domain reconstruction only (callers that do not run :meth:`custom_step`)."""
        rec = (self(batch["composite"], batch["mask"]) - batch["real"]).abs().mean()
        return {"total": rec, "rec_rl": rec}
