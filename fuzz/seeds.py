#!/usr/bin/env python3
"""Write the hand-made seed inputs of each harness into fuzz/corpus/<target>/seed-NN.
Run once; the committed corpus also holds the inputs the long runs kept (named by hash).
Input layouts are described at the top of each fuzz_*.c."""
import os, struct

here = os.path.dirname(os.path.abspath(__file__))
ALL = b"\xff\xff"
U8, L1, SA = b"\x00", b"\x01", b"\x02"

json_msgs = [
    b'{}', b'{"a":"x"}', b'{"a":"caf\xc3\xa9","b":42,"c":-9000000000,"d":true}',
    b'{"a":"\\u00e9\\ud83d\\ude00\\n\\t\\"\\\\\\/"}', b'{"a":"\\ud800"}', b'{"a":"\\udc00x"}', b'{"a":"\\u0000"}',
    b'{"e":"\\\\x00ff10","f":{"x":[1,2,{"y":null}]},"k":[true,false,null]}',
    b'{"g":[1,2,null,3],"i":["a","b\\"c",null,"d\\\\e"],"l":[[1,2],[3,4]]}',
    b'{"h":{"a":1,"b":"t","c":[5,6],"d":{"x":"in","y":true}}}',
    b'{"j":[{"a":1},{"b":"x","d":{"x":"q"}},null]}', b'{"n":[{"k":1},[2],"s",3.5e10]}',
    b'{"zz":{"deep":[[[[[]]]]]},"a":"after"}', b'{"a":1,}', b'{"a" 1}', b'[1,2]', b'  {"b":"12"}  ',
    b'{"b":1.5e3,"m":70000}', b'{"\\u00e9":"key escaped"}', b'{"\xc3\xa9":"key raw"}',
    b'{"a":"x"} trailing', b'{"d":"yes","b":"  42  "}', b'{"a":"\xff"}', b'{"h":"(1,x,{},)"}',
    b'{"g":[[1],[2,3]],"h":{"d":{"x":"\\u20ac"}}}', b'{"a":nul}', b'{"a":-}', b'{"a":01}',
    b'{"x":' + b'[' * 250 + b']' * 250 + b'}', b'{"g":' + b'[' * 120 + b']' * 120 + b'}',
    b'{"a":"\\u00', b'{"a', b'{"a":"x\\', b'{"k":{"a":"\\u00e9"}}',
]
csv_hdr = lambda enc=U8, d=b",", q=b'"', e=b"\x00", flags=0, null=b"": enc + d + q + e + bytes([flags | (len(null) << 1)]) + ALL + null
csv_msgs = [
    (csv_hdr(), b'hello,42,t,\\x00ff,{"a":1},"{1,2}",9000000000,x,"(1,a,{},)"'),
    (csv_hdr(), b'"quoted, comma","4""2",f\n'), (csv_hdr(), b'a,,,,\r\n'), (csv_hdr(), b'"unterminated'),
    (csv_hdr(flags=1), b'1,2,3'), (csv_hdr(flags=1), b'a,1,t,x,{},{},1,b,(1,x,{},)'),
    (csv_hdr(null=b"NA"), b'NA,"NA",NA'), (csv_hdr(d=b";", q=b"'", e=b"\\"), b"'a;b';'it\\'s';'x\\\\y'"),
    (csv_hdr(d=b"\t"), b'caf\xc3\xa9\t12\ttrue'), (csv_hdr(enc=L1, d=b"\xe9"), b'a\xc3\xa9b'),
    (csv_hdr(enc=L1), b'\xe2\x82\xac,1'), (csv_hdr(), b'"a"b"c",1'), (csv_hdr(), b'\xff,1'),
    (csv_hdr(d=b'"'), b'"a","b"'), (csv_hdr(), b','), (csv_hdr(), b''), (csv_hdr(), b'""'),
    (csv_hdr(enc=SA), b'x,\xc3\xa9'), (csv_hdr(), b'1,2147483648,maybe,\\xZZ'),
]
text_msgs = []
for t in range(10):
    for m in [b'hello', b'42', b'-9223372036854775808', b'99999999999999999999', b'true', b'false', b'\\x0a0b',
              b'{"a":[1,2]}', b'{1,2,3}', b'(1,x,{},)', b'caf\xc3\xa9', b'\xc3', b'\x00', b'']:
        text_msgs.append(bytes([t % 3, t]) + m)
text_msgs += [b'\x00\x80', b'\x01\x00\xe2\x82\xac', b'\x01\x00caf\xc3\xa9', b'\x02\x00\xf0\x9f\x98\x80']

def hdr(name, value, null=False):
    return bytes([len(name)]) + name + bytes([1 if null else 0]) + (b"" if null else struct.pack("<H", len(value)) + value)
hdr_msgs = [
    U8 + hdr(b"trace", b"abc") + hdr(b"n", b"", True) + hdr(b"bin", b"\x00\x01\xff"),
    U8 + hdr(b"k", b"v1") + hdr(b"k", b"v2"), U8 + hdr(b"\xff", b"x") + hdr(b"q\"\\", b"line\nbreak\t\x01"),
    U8 + hdr(b"", b"") + hdr(b"caf\xc3\xa9", b"\xe2\x82\xac"), L1 + hdr(b"caf\xe9", b"\xe9"), SA + hdr(b"a", b"\x80"),
    U8, U8 + hdr(b"big", bytes(range(256)) * 2),
]

# Avro: a tiny encoder for the schemas of fuzz_avro.c (byte 0: schema + 6 * encoding)
def zz(n):
    u = (n << 1) ^ (n >> 63)
    u &= (1 << 64) - 1
    out = b""
    while True:
        b = u & 0x7f
        u >>= 7
        if u:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])
def av_s(b):
    return zz(len(b)) + b
H = zz(1) + zz(0) + av_s(b"t") + zz(2) + zz(5) + zz(6) + zz(0) + av_s(b"\x01") + zz(1) + av_s(b"in") + b"\x01"
avro_msgs = [
    (0, av_s(b"caf\xc3\xa9") + zz(42) + zz(-9000000000) + b"\x01" + av_s(b"\x00\xff") + struct.pack("<d", 1.5) + zz(7)
        + zz(1700000000000000) + zz(19000) + av_s(b"\x30\x39") + av_s(b"6ba7b810-9dad-11d1-80b4-00c04fd430c8")
        + zz(3600000) + zz(1700000000000) + zz(2) + struct.pack("<f", 2.5)),
    (0, av_s(b"") + zz(-1) + zz(0) + b"\x00" + av_s(b"") + struct.pack("<d", float("nan")) + zz(70000)
        + zz(-1) + zz(-719528) + av_s(b"\xff") + av_s(b"not a uuid") + zz(86400000) + zz(-1) + zz(0)
        + struct.pack("<f", float("inf"))),
    (1, zz(1) + zz(5) + av_s(b"x") + zz(1) + av_s(b"k") + zz(3) + zz(1) + zz(5) + zz(2) + av_s(b"s") + zz(0) + zz(0)
        + zz(0) + H + zz(3) + zz(1) + zz(3) + zz(0) + zz(2) + zz(1) + zz(9) + zz(0) + zz(0)
        + zz(2) + zz(0) + av_s(b'q"\\') + zz(2) + zz(1) + av_s(b"r") + zz(0) + zz(1) + zz(1) + H + zz(0) + H
        + zz(1) + zz(1) + av_s(b"k") + av_s(b"\xff") + zz(0) + zz(0) + zz(4) + av_s(b"p")
        + zz(-2) + zz(2) + zz(1) + zz(2) + zz(0)),
    (2, zz(1) + zz(1) + zz(2) + zz(1) + zz(3) + zz(0) + zz(1) + zz(3) + zz(0) + zz(0)),
    (3, zz(3) + zz(0) + zz(2) + zz(0) + zz(1) + av_s(b"k") + zz(0)),
    (4, zz(1700000000000) + zz(-1) + zz(1) + b"\xff" * 8 + zz(0) + zz(1) + bytes(range(16)) + zz(0) + b"abc"
        + av_s(b"\x01\x00") + zz(2) + zz(0) + zz(-719528) + zz(0) + struct.pack("<f", -0.0) + zz(1000)),
    (5, zz(1) + av_s(b"str")), (5, zz(2) + zz(2) + struct.pack("<dd", 1e300, -2.5) + zz(0)),
    (5, zz(3) + zz(1) + av_s(b"k") + zz(5) + zz(0)), (5, zz(0)), (5, zz(4) + av_s(b"\x00")),
]
avro_seeds = [bytes([w]) + ALL + m for w, m in avro_msgs]
avro_seeds += [bytes([w + 6]) + ALL + m for w, m in avro_msgs[:3]]   # LATIN1
avro_seeds += [bytes([w]) + ALL + m[:len(m) // 2] for w, m in avro_msgs[:6]]   # truncated
avro_seeds += [b"\x02\xff\xff" + zz(1) + zz(1) + zz(1) * 150 + zz(0)]   # deep

def write(target, items):
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for i, m in enumerate(items):
        with open(os.path.join(d, "seed-%02d" % i), "wb") as f:
            f.write(m)

write("fuzz_json", [enc + ALL + m for m in json_msgs for enc in (U8,)] + [L1 + ALL + m for m in json_msgs[:8]] + [SA + ALL + json_msgs[3]])
write("fuzz_csv", [h + m for h, m in csv_msgs])
write("fuzz_text", text_msgs)
write("fuzz_headers", hdr_msgs)
write("fuzz_avro", avro_seeds)

with open(os.path.join(here, "json.dict"), "w") as f:
    for tok in ['"{"', '"}"', '"["', '"]"', '":"', '","', '"\\""', '"true"', '"false"', '"null"', '"\\\\u"',
                '"\\\\ud83d\\\\ude00"', '"\\\\n"', '"\\\\\\\\"', '"-1.5e+10"', '"\\"a\\":"', '"\\"g\\":"', '"\\"h\\":"',
                '"\\"j\\":"', '"\\"l\\":"', '"\\"n\\":"', '"\\"d\\":"', '"\\xc3\\xa9"', '"\\\\x"']:
        f.write(tok + "\n")
