"""Test fixtures for the release-format importers: state dicts with the key names and shapes of the SPADE, OASIS,
SEAN, MUNIT and 2017 UNIT releases (random values, small widths), and independent functional re-implementations of
those releases' eval-mode forward passes written from their documented layer orders (reading the reference keys
directly, never condgen's modules)."""

from __future__ import annotations

import torch
from test_reference_fidelity import _ref_adain, _ref_layer_norm, _reference_pooling
from torch.nn import functional as F

__all__ = ["_ref_adain", "_ref_layer_norm", "_reference_pooling"]

_g = torch.Generator().manual_seed(0)


def _r(*shape, scale=0.3):
    return torch.randn(*shape, generator=_g) * scale


def _unit(n):
    v = torch.randn(n, generator=_g)
    return v / v.norm()


def sn_layer(sd, p, cout, cin, k, bias=True):
    """A hook-style spectral-norm conv: weight_orig, weight_u, weight_v (+ bias)."""
    sd[f"{p}.weight_orig"] = _r(cout, cin, k, k)
    sd[f"{p}.weight_u"], sd[f"{p}.weight_v"] = _unit(cout), _unit(cin * k * k)
    if bias:
        sd[f"{p}.bias"] = _r(cout, scale=0.1)


def layer(sd, p, *shape, bias=True):
    sd[f"{p}.weight"] = _r(*shape)
    if bias:
        sd[f"{p}.bias"] = _r(shape[0], scale=0.1)


def bn_stats(sd, p, c):
    sd[f"{p}.running_mean"] = _r(c, scale=0.2)
    sd[f"{p}.running_var"] = torch.rand(c, generator=_g) + 0.5
    sd[f"{p}.num_batches_tracked"] = torch.tensor(7)


def sn_weight(sd, p):
    """The eval-mode weight of a hook-style spectral-norm layer: W / (u . W v) with the stored vectors."""
    w = sd[f"{p}.weight_orig"]
    sigma = torch.dot(sd[f"{p}.weight_u"], w.reshape(w.shape[0], -1) @ sd[f"{p}.weight_v"])
    return w / sigma


def sn_conv(sd, p, x, padding=1, stride=1):
    return F.conv2d(x, sn_weight(sd, p), sd.get(f"{p}.bias"), stride=stride, padding=padding)


def conv(sd, p, x, padding=0, stride=1):
    return F.conv2d(x, sd[f"{p}.weight"], sd.get(f"{p}.bias"), stride=stride, padding=padding)


# ----- SPADE-family blocks ---------------------------------------------------------------------------------------
def spade_layer(sd, p, c, cond, hidden, stats=None):
    layer(sd, f"{p}.mlp_shared.0", hidden, cond, 3, 3)
    layer(sd, f"{p}.mlp_gamma", c, hidden, 3, 3)
    layer(sd, f"{p}.mlp_beta", c, hidden, 3, 3)
    bn_stats(sd, stats or f"{p}.param_free_norm", c)


def spade_modulation(sd, p, seg):
    actv = F.relu(conv(sd, f"{p}.mlp_shared.0", seg, 1))
    return conv(sd, f"{p}.mlp_gamma", actv, 1), conv(sd, f"{p}.mlp_beta", actv, 1)


def bn_eval(sd, p, x):
    return F.batch_norm(x, sd[f"{p}.running_mean"], sd[f"{p}.running_var"], training=False, eps=1e-5)


def spade_forward(sd, p, x, seg, stats=None):
    """SPADE: BN(x) * (1 + gamma) + beta from the nearest-resized segmap."""
    seg = F.interpolate(seg, size=x.shape[2:], mode="nearest")
    gamma, beta = spade_modulation(sd, p, seg)
    return bn_eval(sd, stats or f"{p}.param_free_norm", x) * (1 + gamma) + beta


def resblock(sd, p, fin, fout, norm):
    """SPADE ResBlk keys: conv_0/1 (+conv_s) under spectral norm, norms built by norm(prefix, channels)."""
    fmid = min(fin, fout)
    sn_layer(sd, f"{p}.conv_0", fmid, fin, 3)
    sn_layer(sd, f"{p}.conv_1", fout, fmid, 3)
    norm(f"{p}.0", fin)
    norm(f"{p}.1", fmid)
    if fin != fout:
        sn_layer(sd, f"{p}.conv_s", fout, fin, 1, bias=False)
        norm(f"{p}.s", fin)


def resblock_forward(sd, p, x, norm):
    """shortcut + conv_1(lrelu(norm_1(conv_0(lrelu(norm_0(x))))))."""
    xs = sn_conv(sd, f"{p}.conv_s", norm(f"{p}.s", x), 0) if f"{p}.conv_s.weight_orig" in sd else x
    dx = sn_conv(sd, f"{p}.conv_0", F.leaky_relu(norm(f"{p}.0", x), 0.2))
    dx = sn_conv(sd, f"{p}.conv_1", F.leaky_relu(norm(f"{p}.1", dx), 0.2))
    return xs + dx


def _np(p):
    block, which = p.rsplit(".", 1)
    return block, which


# ----- SPADE -----------------------------------------------------------------------------------------------------
SPADE_BLOCKS = ("head_0", "G_middle_0", "G_middle_1", "up_0", "up_1", "up_2", "up_3", "up_4")


def spade_generator_sd(semantic_nc, ngf=2, hidden=4, mode="normal", z_dim=None, start=(1, 1)):
    """NVlabs/SPADE SPADEGenerator keys (norm_G spectralspadesyncbatch3x3)."""
    sd = {}
    nf = 16 * ngf
    if z_dim:
        layer(sd, "fc", nf * start[0] * start[1], z_dim)
    else:
        layer(sd, "fc", nf, semantic_nc, 3, 3)
    chans = [(nf, nf)] * 3 + [(16 * ngf, 8 * ngf), (8 * ngf, 4 * ngf), (4 * ngf, 2 * ngf), (2 * ngf, ngf)]
    if mode == "most":
        chans.append((ngf, ngf // 2))

    def norm(p, c):
        block, which = _np(p)
        spade_layer(sd, f"{block}.norm_{which}", c, semantic_nc, hidden)

    for name, (a, b) in zip(SPADE_BLOCKS, chans):
        resblock(sd, name, a, b, norm)
    layer(sd, "conv_img", 3, chans[-1][1], 3, 3)
    return sd


def spade_generator_forward(sd, seg, mode="normal", z=None, start=None):
    """SPADEGenerator.forward in eval mode (seg: N x semantic_nc x H x W)."""
    up = {"normal": 5, "more": 6, "most": 7}[mode]
    if z is not None:
        nf = sd["head_0.conv_0.weight_orig"].shape[1]
        x = F.linear(z, sd["fc.weight"], sd["fc.bias"]).view(z.shape[0], nf, *start)
    else:
        x = conv(sd, "fc", F.interpolate(seg, size=(seg.shape[2] >> up, seg.shape[3] >> up)), 1)

    def norm(p, h):
        block, which = _np(p)
        return spade_forward(sd, f"{block}.norm_{which}", h, seg)

    def block(name, h):
        return resblock_forward(sd, name, h, norm)

    x = block("head_0", x)
    x = block("G_middle_0", F.interpolate(x, scale_factor=2))
    if mode != "normal":
        x = F.interpolate(x, scale_factor=2)
    x = block("G_middle_1", x)
    for name in SPADE_BLOCKS[3:7 if mode != "most" else 8]:
        x = block(name, F.interpolate(x, scale_factor=2))
    return torch.tanh(conv(sd, "conv_img", F.leaky_relu(x, 0.2), 1))


def spade_encoder_sd(ndf=2, z_dim=4):
    """SPADE ConvEncoder keys (norm_E spectralinstance: convs without bias), crop_size >= 256."""
    sd, chans = {}, [3, ndf, 2 * ndf, 4 * ndf, 8 * ndf, 8 * ndf, 8 * ndf]
    for i in range(6):
        sn_layer(sd, f"layer{i + 1}.0", chans[i + 1], chans[i], 3, bias=False)
    layer(sd, "fc_mu", z_dim, 8 * ndf * 16)
    layer(sd, "fc_var", z_dim, 8 * ndf * 16)
    return sd


def spade_encoder_forward(sd, x):
    """ConvEncoder.forward: bilinear resize to 256, six SN conv + IN (+ LReLU 0.2), fc_mu."""
    x = F.interpolate(x, size=(256, 256), mode="bilinear", align_corners=False)
    for i in range(6):
        x = F.leaky_relu(F.instance_norm(sn_conv(sd, f"layer{i + 1}.0", x, 1, 2)), 0.2)
    return F.linear(x.flatten(1), sd["fc_mu.weight"], sd["fc_mu.bias"])


# ----- OASIS -----------------------------------------------------------------------------------------------------
def oasis_generator_sd(semantic_nc, z_dim, ngf=1, hidden=4):
    """boschresearch/OASIS OASIS_Generator keys (batch-type param-free norms, spectral norm)."""
    sd, cond = {}, semantic_nc + z_dim
    chans = [16 * ngf, 16 * ngf, 16 * ngf, 8 * ngf, 4 * ngf, 2 * ngf, ngf]

    def norm(p, c):
        block, which = _np(p)
        spade_layer(sd, f"{block}.norm_{which}", c, cond, hidden, stats=f"{block}.norm_{which}.first_norm")

    for i in range(6):
        resblock(sd, f"body.{i}", chans[i], chans[i + 1], norm)
    layer(sd, "conv_img", 3, ngf, 3, 3)
    layer(sd, "fc", 16 * ngf, cond, 3, 3)
    return sd


def oasis_generator_forward(sd, seg, z):
    """OASIS_Generator.forward in eval mode with the noise vectors z (N x z_dim) it would draw: the condition is
    cat(z replicated, seg); 6 blocks, x2 nearest upsampling after each but the last."""
    cond = torch.cat([z[:, :, None, None].expand(-1, -1, *seg.shape[2:]), seg], 1)
    x = conv(sd, "fc", F.interpolate(cond, size=(seg.shape[2] // 32, seg.shape[3] // 32)), 1)

    def norm(p, h):
        block, which = _np(p)
        return spade_forward(sd, f"{block}.norm_{which}", h, cond, stats=f"{block}.norm_{which}.first_norm")

    for i in range(6):
        x = resblock_forward(sd, f"body.{i}", x, norm)
        if i < 5:
            x = F.interpolate(x, scale_factor=2)
    return torch.tanh(conv(sd, "conv_img", F.leaky_relu(x, 0.2), 1))


# ----- SEAN ------------------------------------------------------------------------------------------------------
def sean_generator_sd(label_nc, ngf=1, hidden=4, style=6, nf=2):
    """ZPdesu/SEAN SPADEGenerator keys: Zencoder + ACE norms (fc_mu0.. per class; up_3 without region styles)."""
    sd = {}
    layer(sd, "Zencoder.model.1", nf, 3, 3, 3)
    layer(sd, "Zencoder.model.4", 2 * nf, nf, 3, 3)
    layer(sd, "Zencoder.model.7", 4 * nf, 2 * nf, 3, 3)
    sd["Zencoder.model.10.weight"] = _r(4 * nf, 8 * nf, 3, 3)  # transposed conv: in, out
    sd["Zencoder.model.10.bias"] = _r(8 * nf, scale=0.1)
    layer(sd, "Zencoder.model.14", style, 8 * nf, 3, 3)
    layer(sd, "fc", 16 * ngf, label_nc, 3, 3)
    chans = [(16 * ngf, 16 * ngf)] * 3 + [(16 * ngf, 8 * ngf), (8 * ngf, 4 * ngf), (4 * ngf, 2 * ngf), (2 * ngf, ngf)]
    for name, (a, b) in zip(SPADE_BLOCKS[:7], chans):
        def norm(p, c, rgb=name != "up_3"):
            block, which = _np(p)
            q = f"{block}.ace_{which}"
            sd[f"{q}.blending_gamma"], sd[f"{q}.blending_beta"] = _r(1), _r(1)
            sd[f"{q}.noise_var"] = _r(c)
            bn_stats(sd, f"{q}.param_free_norm", c)
            spade_layer(sd, f"{q}.Spade", c, label_nc, hidden)  # its own param_free_norm: built, unused
            if rgb:
                for j in range(label_nc):
                    layer(sd, f"{q}.fc_mu{j}", style, style)
                layer(sd, f"{q}.conv_gamma", c, style, 3, 3)
                layer(sd, f"{q}.conv_beta", c, style, 3, 3)
        resblock(sd, name, a, b, norm)
    layer(sd, "conv_img", 3, ngf, 3, 3)
    return sd


def sean_style_codes(sd, image, seg):
    """Zencoder.forward: the style map, then the release's nearest pooling per class."""
    x = F.pad(image, (1,) * 4, mode="reflect")
    x = F.leaky_relu(F.instance_norm(conv(sd, "Zencoder.model.1", x)), 0.2)
    x = F.leaky_relu(F.instance_norm(conv(sd, "Zencoder.model.4", x, 1, 2)), 0.2)
    x = F.leaky_relu(F.instance_norm(conv(sd, "Zencoder.model.7", x, 1, 2)), 0.2)
    x = F.conv_transpose2d(x, sd["Zencoder.model.10.weight"], sd["Zencoder.model.10.bias"], stride=2, padding=1,
                           output_padding=1)
    x = F.leaky_relu(F.instance_norm(x), 0.2)
    x = torch.tanh(conv(sd, "Zencoder.model.14", F.pad(x, (1,) * 4, mode="reflect")))
    return _reference_pooling(x, seg, sd["fc.weight"].shape[1])


def sean_generator_forward(sd, seg_onehot, codes):
    """SEAN SPADEGenerator.forward (eval, noise zero) given the style codes [B, K, S]."""
    x = conv(sd, "fc", F.interpolate(seg_onehot, size=(seg_onehot.shape[2] >> 5, seg_onehot.shape[3] >> 5)), 1)

    def ace(p, h):
        block, which = _np(p)
        q = f"{block}.ace_{which}"
        seg = F.interpolate(seg_onehot, size=h.shape[2:], mode="nearest")
        normalized = bn_eval(sd, f"{q}.param_free_norm", h)
        gamma_o, beta_o = spade_modulation(sd, f"{q}.Spade", seg)
        if f"{q}.fc_mu0.weight" not in sd:
            return normalized * (1 + gamma_o) + beta_o
        middle = torch.zeros(h.shape[0], codes.shape[2], *h.shape[2:])
        for b in range(h.shape[0]):
            for j in range(seg.shape[1]):
                mask = seg[b, j].bool()
                if mask.any():
                    mu = F.relu(F.linear(codes[b, j], sd[f"{q}.fc_mu{j}.weight"], sd[f"{q}.fc_mu{j}.bias"]))
                    middle[b][:, mask] = mu[:, None]
        gamma_s, beta_s = conv(sd, f"{q}.conv_gamma", middle, 1), conv(sd, f"{q}.conv_beta", middle, 1)
        ag, ab = torch.sigmoid(sd[f"{q}.blending_gamma"]), torch.sigmoid(sd[f"{q}.blending_beta"])
        return normalized * (1 + ag * gamma_s + (1 - ag) * gamma_o) + ab * beta_s + (1 - ab) * beta_o

    x = resblock_forward(sd, "head_0", x, ace)
    for name in SPADE_BLOCKS[1:7]:  # "normal": no upsampling between the two middle blocks
        x = resblock_forward(sd, name, x if name == "G_middle_1" else F.interpolate(x, scale_factor=2), ace)
    return torch.tanh(conv(sd, "conv_img", F.leaky_relu(x, 0.2), 1))


# ----- MUNIT -----------------------------------------------------------------------------------------------------
def munit_generator_sd(channels=3, dim=2, style_dim=3, n_down=2, n_res=1, mlp_dim=5, content_stats=False):
    """One NVlabs/MUNIT AdaINGen state dict (Conv2dBlock .conv/.norm, LayerNorm gamma/beta, MLP LinearBlocks)."""
    sd, d = {}, dim
    layer(sd, "enc_style.model.0.conv", d, channels, 7, 7)
    for i in range(4):
        out = d * 2 if i < 2 else d
        layer(sd, f"enc_style.model.{i + 1}.conv", out, d, 4, 4)
        d = out
    layer(sd, "enc_style.model.6", style_dim, d, 1, 1)
    d = dim
    layer(sd, "enc_content.model.0.conv", d, channels, 7, 7)
    stats = ["enc_content.model.0.norm"]
    for i in range(n_down):
        layer(sd, f"enc_content.model.{i + 1}.conv", 2 * d, d, 4, 4)
        stats.append(f"enc_content.model.{i + 1}.norm")
        d *= 2
    for k in range(n_res):
        for j in range(2):
            layer(sd, f"enc_content.model.{n_down + 1}.model.{k}.model.{j}.conv", d, d, 3, 3)
            stats.append(f"enc_content.model.{n_down + 1}.model.{k}.model.{j}.norm")
            layer(sd, f"dec.model.0.model.{k}.model.{j}.conv", d, d, 3, 3)
            sd[f"dec.model.0.model.{k}.model.{j}.norm.running_mean"] = torch.zeros(d)  # AdaIN's unused buffers
            sd[f"dec.model.0.model.{k}.model.{j}.norm.running_var"] = torch.ones(d)
    if content_stats:
        for p in stats:
            bn_stats(sd, p, sd[p.replace(".norm", ".conv.weight")].shape[0])
    n_adain = 4 * d * n_res
    for i in range(n_down):
        layer(sd, f"dec.model.{2 + 2 * i}.conv", d // 2, d, 5, 5)
        sd[f"dec.model.{2 + 2 * i}.norm.gamma"] = torch.rand(d // 2, generator=_g)
        sd[f"dec.model.{2 + 2 * i}.norm.beta"] = _r(d // 2, scale=0.1)
        d //= 2
    layer(sd, f"dec.model.{1 + 2 * n_down}.conv", channels, d, 7, 7)
    layer(sd, "mlp.model.0.fc", mlp_dim, style_dim)
    layer(sd, "mlp.model.1.fc", mlp_dim, mlp_dim)
    layer(sd, "mlp.model.2.fc", n_adain, mlp_dim)
    return sd


def _block(sd, p, x, k, stride=1, norm=None, act="relu"):
    x = conv(sd, f"{p}.conv", F.pad(x, ((k - 1) // 2 if k % 2 else 1,) * 4, mode="reflect"), stride=stride)
    if norm == "in":
        x = F.instance_norm(x)
    return F.relu(x) if act == "relu" else x


def munit_encode(sd, x, n_down=2):
    """(content, style) of AdaINGen.encode (instance norms with instance statistics)."""
    s = _block(sd, "enc_style.model.0", x, 7)
    for i in range(4):
        s = _block(sd, f"enc_style.model.{i + 1}", s, 4, 2)
    s = conv(sd, "enc_style.model.6", s.mean((2, 3), keepdim=True))
    c = _block(sd, "enc_content.model.0", x, 7, norm="in")
    for i in range(n_down):
        c = _block(sd, f"enc_content.model.{i + 1}", c, 4, 2, norm="in")
    k = 0
    while f"enc_content.model.{n_down + 1}.model.{k}.model.0.conv.weight" in sd:
        p = f"enc_content.model.{n_down + 1}.model.{k}.model"
        c = c + _block(sd, f"{p}.1", _block(sd, f"{p}.0", c, 3, norm="in"), 3, norm="in", act=None)
        k += 1
    return c, s.flatten(1)


def munit_decode(sd, content, style, n_down=2):
    """AdaINGen.decode: MLP -> AdaIN params assigned in module order as [bias (mean), weight (std)] -> decoder."""
    p = F.relu(F.linear(style, sd["mlp.model.0.fc.weight"], sd["mlp.model.0.fc.bias"]))
    p = F.relu(F.linear(p, sd["mlp.model.1.fc.weight"], sd["mlp.model.1.fc.bias"]))
    p = F.linear(p, sd["mlp.model.2.fc.weight"], sd["mlp.model.2.fc.bias"])
    h, k = content, 0
    while f"dec.model.0.model.{k}.model.0.conv.weight" in sd:
        c = h.shape[1]
        q = f"dec.model.0.model.{k}.model"
        r = conv(sd, f"{q}.0.conv", F.pad(h, (1,) * 4, mode="reflect"))
        r = F.relu(_ref_adain(r, p[:, c:2 * c], p[:, :c]))
        r = conv(sd, f"{q}.1.conv", F.pad(r, (1,) * 4, mode="reflect"))
        h = h + _ref_adain(r, p[:, 3 * c:4 * c], p[:, 2 * c:3 * c])
        p, k = p[:, 4 * c:], k + 1
    for i in range(n_down):
        q = f"dec.model.{2 + 2 * i}"
        h = conv(sd, f"{q}.conv", F.pad(F.interpolate(h, scale_factor=2), (2,) * 4, mode="reflect"))
        h = F.relu(_ref_layer_norm(h, sd[f"{q}.norm.gamma"], sd[f"{q}.norm.beta"]))
    return torch.tanh(conv(sd, f"dec.model.{1 + 2 * n_down}.conv", F.pad(h, (3,) * 4, mode="reflect")))


# ----- UNIT 2017 -------------------------------------------------------------------------------------------------
def unit_generator_sd(ch=2, n_res=1, n_shared=1, dims=(3, 3)):
    """mingyuliutw/UNIT version_02 COCOResGen keys (LeakyReLUConv2d / ReLUINSConv2d .model.0, INSResBlock
    .model.0 / .model.3, 1x1 ConvTranspose2d output), n_enc_front_blk = n_gen_front_blk = 3."""
    sd = {}
    for d, dim in zip("AB", dims):
        layer(sd, f"encode_{d}.0.model.0", ch, dim, 7, 7)
        layer(sd, f"encode_{d}.1.model.0", 2 * ch, ch, 3, 3)
        layer(sd, f"encode_{d}.2.model.0", 4 * ch, 2 * ch, 3, 3)
        for k in range(n_res):
            for j in (0, 3):
                layer(sd, f"encode_{d}.{3 + k}.model.{j}", 4 * ch, 4 * ch, 3, 3)
                layer(sd, f"decode_{d}.{k}.model.{j}", 4 * ch, 4 * ch, 3, 3)
        sd[f"decode_{d}.{n_res}.model.0.weight"] = _r(4 * ch, 2 * ch, 3, 3)
        sd[f"decode_{d}.{n_res}.model.0.bias"] = _r(2 * ch, scale=0.1)
        sd[f"decode_{d}.{n_res + 1}.model.0.weight"] = _r(2 * ch, ch, 3, 3)
        sd[f"decode_{d}.{n_res + 1}.model.0.bias"] = _r(ch, scale=0.1)
        sd[f"decode_{d}.{n_res + 2}.weight"] = _r(ch, dim, 1, 1)
        sd[f"decode_{d}.{n_res + 2}.bias"] = _r(dim, scale=0.1)
    for k in range(n_shared):
        for j in (0, 3):
            layer(sd, f"enc_shared.{k}.model.{j}", 4 * ch, 4 * ch, 3, 3)
            layer(sd, f"dec_shared.{k}.model.{j}", 4 * ch, 4 * ch, 3, 3)
    return sd


def _ins_res(sd, p, x):
    h = F.relu(F.instance_norm(conv(sd, f"{p}.model.0", x, 1)))
    return x + F.instance_norm(conv(sd, f"{p}.model.3", h, 1))


def unit_a2b(sd, x, n_res=1, n_shared=1):
    """COCOResGen.forward_a2b in eval mode (the noise layer is the identity): zero-padded convs."""
    h = F.leaky_relu(conv(sd, "encode_A.0.model.0", x, 3), 0.01)
    for i in (1, 2):
        h = F.relu(F.instance_norm(conv(sd, f"encode_A.{i}.model.0", h, 1, 2)))
    for k in range(n_res):
        h = _ins_res(sd, f"encode_A.{3 + k}", h)
    for k in range(n_shared):
        h = _ins_res(sd, f"enc_shared.{k}", h)
    for k in range(n_shared):
        h = _ins_res(sd, f"dec_shared.{k}", h)
    for k in range(n_res):
        h = _ins_res(sd, f"decode_B.{k}", h)
    for i in range(2):
        q = f"decode_B.{n_res + i}.model.0"
        h = F.conv_transpose2d(h, sd[f"{q}.weight"], sd[f"{q}.bias"], stride=2, padding=1, output_padding=1)
        h = F.relu(F.instance_norm(h))
    q = f"decode_B.{n_res + 2}"
    return torch.tanh(F.conv_transpose2d(h, sd[f"{q}.weight"], sd[f"{q}.bias"]))
