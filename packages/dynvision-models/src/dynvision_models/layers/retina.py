"""Retina: a two-layer convolutional bottleneck in front of V1 (after Lindsey et al., ICLR 2019).

Lindsey et al. showed that a narrow retinal output (few channels) makes the first cortical layer develop
centre-surround (retina-like) and oriented (V1-like) receptive fields. The retina has no temporal state here:
it filters each frame independently (the engine filters a static image once and a movie frame by frame).
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["Retina"]


class Retina(nn.Module):
    """``conv(C -> mid, k x k) -> ReLU -> conv(mid -> out, k x k)``, "same" padding, stride 1.

    Args:
        in_channels: channels ``C`` of a stimulus frame.
        mid_channels: width of the first retinal layer (36 in Lindsey et al.'s setting).
        out_channels: bottleneck width, i.e. what V1 receives (18).
        kernel_size: odd kernel of both convolutions (9).

    Forward: ``(N, C, H, W)`` -> ``(N, out_channels, H, W)``. The output is not rectified: it is V1's input,
    which V1 convolves and integrates before its own rectification (as the retina's linear readout).
    """

    def __init__(
        self, in_channels: int, *, mid_channels: int = 36, out_channels: int = 18, kernel_size: int = 9
    ) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(
                f"Retina kernel_size must be odd so that 'same' padding keeps H and W, got {kernel_size}."
            )
        self.out_channels = out_channels
        self.conv1 = nn.Conv2d(in_channels, mid_channels, kernel_size, padding=kernel_size // 2)
        self.conv2 = nn.Conv2d(mid_channels, out_channels, kernel_size, padding=kernel_size // 2)
        for conv in (self.conv1, self.conv2):
            nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(conv.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv2(self.conv1(x).relu())
