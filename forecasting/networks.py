"""The deep forecasters' networks: an MLP over tabular features (`ziln`) and a small transformer
encoder over the weekly event sequence (`sequence`), both feeding the same ZILN heads.

The transformer is `transformers`' BERT encoder built from a config (random initialisation, no
download, trained here) and fed the projected weekly events as `inputs_embeds`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from forecasting.model_kinds import DeepKind

#: Outputs per customer: purchase log-odds level and horizon slope (corrections to the BG/NBD
#: prior), spend mu and log sigma of the lognormal, log shape of the count distribution.
OUTPUTS = ("purchase_level", "purchase_slope", "spend_mu", "spend_log_sigma", "count_log_shape")
#: Columns of the network's output [B, OUTPUTS], by name.
PURCHASE_LEVEL = OUTPUTS.index("purchase_level")
PURCHASE_SLOPE = OUTPUTS.index("purchase_slope")
#: The purchase columns (level and slope), which training centres per anchor week.
PURCHASE = slice(PURCHASE_LEVEL, PURCHASE_SLOPE + 1)
SPEND_MU = OUTPUTS.index("spend_mu")
SPEND_LOG_SIGMA = OUTPUTS.index("spend_log_sigma")
COUNT_LOG_SHAPE = OUTPUTS.index("count_log_shape")


@dataclass(frozen=True)
class NetworkConfig:
    kind: DeepKind
    tabular_features: int
    channels: int
    sequence_weeks: int = 52
    hidden: int = 64
    layers: int = 2
    attention_heads: int = 4
    dropout: float = 0.1


class ForecastNetwork(nn.Module):
    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.config = config
        hidden = config.hidden
        self.tabular = nn.Sequential(
            nn.Linear(config.tabular_features, hidden), nn.SiLU(), nn.Linear(hidden, hidden)
        )
        joined = hidden
        if config.kind == "sequence":
            # Imported here: transformers takes seconds to import and the MLP does not need it.
            from transformers import BertConfig, BertModel

            self.project = nn.Linear(config.channels, hidden)
            self.encoder = BertModel(
                BertConfig(
                    vocab_size=1,
                    hidden_size=hidden,
                    num_hidden_layers=config.layers,
                    num_attention_heads=config.attention_heads,
                    intermediate_size=2 * hidden,
                    max_position_embeddings=config.sequence_weeks,
                    hidden_dropout_prob=config.dropout,
                    attention_probs_dropout_prob=config.dropout,
                ),
                add_pooling_layer=False,
            )
            joined += 2 * hidden
        self.head = nn.Sequential(
            nn.SiLU(),
            nn.Linear(joined, hidden),
            nn.SiLU(),
            nn.Dropout(config.dropout),
            nn.Linear(hidden, len(OUTPUTS)),
        )

    def forward(
        self,
        tabular: torch.Tensor,
        events: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """tabular [B, F]; events [B, T, C] and mask [B, T] for `sequence`. Returns [B, OUTPUTS]."""
        parts = [self.tabular(tabular)]  # [B, H]
        if self.config.kind == "sequence":
            assert events is not None and mask is not None
            encoded = self.encoder(
                inputs_embeds=self.project(events), attention_mask=mask
            ).last_hidden_state  # [B, T, H]
            weights = mask[..., None] / mask.sum(dim=1, keepdim=True)[..., None]  # [B, T, 1]
            parts += [(encoded * weights).sum(dim=1), encoded[:, -1]]  # [B, H] each
        return self.head(torch.cat(parts, dim=1))  # [B, OUTPUTS]
