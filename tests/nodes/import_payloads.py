"""Import files an attacker sends: the YAML alias bomb and a large CSV."""


def yaml_bomb(levels: int = 9) -> str:
    """The 'billion laughs': each level refers ten times to the one before (about 470 bytes)."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def csv_rows(count: int, prefix: str = "n") -> str:
    return "name,address,labels\n" + "".join(f"{prefix}{i},10.1.{i // 250}.{i % 250 + 1},gpu;rack{i % 8}\n"
                                             for i in range(count))
