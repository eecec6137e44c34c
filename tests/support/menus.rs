//! Menus for the knowledge tests and benches: the biggest a restaurant keeps (500 items,
//! each with a size group and 8 extras), built the same way everywhere so the figures and
//! the tests talk about the same data.

use serde_json::{json, Value};

/// A menu of `items` items in 20 categories, each with two option groups (sizes and 8
/// extras): the biggest menus restaurants keep.
pub fn big_menu(items: usize) -> Value {
    let extras: Vec<Value> = (0..8)
        .map(|o| json!({"id": format!("extra-{o}"), "name": format!("Adicional número {o}"), "priceCents": 250 * (o + 1)}))
        .collect();
    let categories: Vec<Value> = (0..20)
        .map(|c| {
            let items: Vec<Value> = (0..items)
                .filter(|i| i % 20 == c)
                .map(|i| json!({
                    "id": format!("item-{i}"),
                    "name": format!("Pizza especial da casa número {i}"),
                    "description": "Molho de tomate artesanal, mussarela, calabresa fatiada, cebola roxa, azeitonas pretas e orégano fresco.",
                    "priceCents": 3000 + i as i64 * 10,
                    "available": i % 7 != 0,
                    "optionGroups": [
                        {"id": "tamanho", "name": "Tamanho", "min": 1, "max": 1, "options": [
                            {"id": "broto", "name": "Broto", "priceCents": 0},
                            {"id": "media", "name": "Média", "priceCents": 800},
                            {"id": "grande", "name": "Grande", "priceCents": 1500}]},
                        {"id": "adicionais", "name": "Adicionais", "min": 0, "max": 3, "options": extras}]
                }))
                .collect();
            json!({"id": format!("cat-{c}"), "name": format!("Categoria {c}"), "items": items})
        })
        .collect();
    json!({ "categories": categories })
}
